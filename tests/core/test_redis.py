"""The one Redis client getter (ccp/core/redis.py), against the suite's real Redis."""

import threading
import uuid

from ccp.core.redis import redis_client


def test_client_talks_to_the_configured_redis(settings):
    key = f"ccp-test:redis-client:{uuid.uuid4()}"
    client = redis_client()
    try:
        client.set(key, "1", ex=30)
        assert client.get(key) == b"1"
        assert client.connection_pool.connection_kwargs["socket_timeout"] == 5
    finally:
        client.delete(key)


def test_one_client_per_url_and_timeouts_shared_by_threads(settings):
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(redis_client())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen}) == 1
    assert seen[0] is redis_client()
    short = redis_client(timeout=2, connect_timeout=2)
    assert short is not seen[0]
    assert short.connection_pool.connection_kwargs["socket_connect_timeout"] == 2


def test_another_url_gets_another_client_and_no_url_none(settings):
    first = redis_client()
    base, db = settings.REDIS_URL.rsplit("/", 1)
    another = (int(db) + 1) % 16  # not this worker's database; never connected to: no command sent
    settings.REDIS_URL = f"{base}/{another}"
    other = redis_client()
    assert other is not first
    assert other.connection_pool.connection_kwargs["db"] == another
    settings.REDIS_URL = ""
    assert redis_client() is None
