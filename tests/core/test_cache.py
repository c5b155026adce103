"""The Redis cache shares one connection pool per process (ccp/core/cache.py): a real daphne keeps a
bounded number of Redis connections however many agent websockets it holds."""

from __future__ import annotations

import asyncio
import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import psutil
import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import Client
from websockets.sync.client import connect as ws_connect

from ccp.core.cache import SharedPoolRedisCacheClient
from tests.factories import MembershipFactory
from tests.servers import daphne_server, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
SOCKETS = 12


def _redis_connections_of_server(url: str) -> int:
    """Established connections from the process listening on `url`'s port to our Redis."""
    port = urlsplit(url).port
    redis_port = urlsplit(settings.REDIS_URL).port or 6379
    (pid,) = {c.pid for c in psutil.net_connections("tcp") if c.laddr.port == port and c.status == "LISTEN"}
    return sum(
        1
        for c in psutil.Process(pid).net_connections("tcp")
        if c.raddr and c.raddr.port == redis_port and c.status == "ESTABLISHED"
    )


def test_the_cache_in_another_context_reuses_the_pool():
    async def pool_of_this_context():
        # each task has its own context, so Django hands it a cache object of its own
        return caches["default"]._cache._get_connection_pool(write=True)

    async def both():
        return await asyncio.gather(pool_of_this_context(), pool_of_this_context())

    first, second = asyncio.run(both())
    assert isinstance(caches["default"]._cache, SharedPoolRedisCacheClient)
    assert first is second


def test_every_cache_call_of_the_process_uses_one_redis_client():
    """Django's client builds a `redis.Redis` (and its table of response callbacks) per call."""

    def client_of_a_thread():
        return caches["default"]._cache.get_client(write=True)

    with ThreadPoolExecutor(2) as pool:
        clients = list(pool.map(lambda _: client_of_a_thread(), range(4)))
    assert all(client is clients[0] for client in clients) and client_of_a_thread() is clients[0]
    # and it works: a write and a read through the cache, and an atomic increment
    caches["default"].set("ccp-test-cache-client", 41, 30)
    assert caches["default"].incr("ccp-test-cache-client") == 42 == caches["default"].get("ccp-test-cache-client")


def test_idle_agent_websockets_do_not_each_hold_a_redis_connection(tenant):
    cookies = []
    for _ in range(SOCKETS):
        client = Client()
        client.force_login(MembershipFactory(tenant=tenant, role="agent").user)
        cookies.append(f"sessionid={client.cookies['sessionid'].value}")
    with daphne_server() as url, contextlib.ExitStack() as stack:

        def open_agent_socket(cookie: str) -> None:
            socket = stack.enter_context(
                ws_connect(
                    url.replace("http://", "ws://") + "/ws/agent/", origin=url, additional_headers={"Cookie": cookie}
                )
            )
            assert json.loads(socket.recv(timeout=30))["type"] == "hello"  # its session was read

        for cookie in cookies[:2]:  # warm: the channel layer's and the cache's pools exist
            open_agent_socket(cookie)
        warm = _redis_connections_of_server(url)
        for cookie in cookies[2:]:
            open_agent_socket(cookie)
        # Each socket's session went through the cache; ten more sockets open at most a couple more
        # connections (a pool grows only while two reads overlap), not one each as before.
        wait_for(lambda: _redis_connections_of_server(url) >= warm, what="the count to settle")
        assert _redis_connections_of_server(url) - warm <= 3


def test_a_counter_starts_at_one_with_its_time_to_live_in_one_round_trip():
    cache = caches["default"]
    key = "ccp-test-counter"
    cache.delete(key)
    assert [cache.incr_expiring(key, 30) for _ in range(3)] == [1, 2, 3]
    client = cache._cache.get_client(write=True)
    ttl = client.ttl(cache.make_key(key))
    assert 0 < ttl <= 30  # set by the first increment only: the later ones did not extend it
    client.expire(cache.make_key(key), 5)
    assert cache.incr_expiring(key, 30) == 4 and client.ttl(cache.make_key(key)) <= 5
    assert cache.get(key) == 4  # still an ordinary cache value
