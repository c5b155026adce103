"""The Redis cache backend with one connection pool per process.

Django keeps a cache object per thread and, under ASGI, per async context (`django.core.cache.caches`
is an `asgiref.local.Local`), and each of its Redis clients opens its own connection pool. Under
daphne every websocket consumer runs in a context of its own, so each socket that read its session
built a client, a pool and a Redis connection that then idled for the socket's life: 1,000 idle
agent sockets held 1,000 Redis connections and ~10 MB of client objects in the server
(docs/performance.md, "Round 3: idle memory"). Here the pools are shared by every cache object of the
process with the same server and options; redis-py's pools are thread-safe and reset themselves in
a forked child.

Django's client also builds a new `redis.Redis` for every cache call (`get_client`), and building one
fills its table of ~170 response callbacks: 1.2 ms of CPU per agent reply, a tenth of it
(`bench/cpu_per_request.py --profile reply`). A `redis.Redis` is thread-safe (each command takes a
connection from the pool), so one per pool serves every call of the process.
"""

from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

_pools: dict[tuple, object] = {}
_clients: dict[int, object] = {}  # id(pool) -> its redis.Redis; pools live as long as the process
_pools_lock = threading.Lock()


class SharedPoolRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write):
        server = self._servers[self._get_connection_pool_index(write)]
        key = (self._pool_class, server, repr(sorted(self._pool_options.items())))
        pool = _pools.get(key)
        if pool is None:
            with _pools_lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = self._pool_class.from_url(server, **self._pool_options)
        return pool

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = _clients.get(id(pool))
        if client is None:
            with _pools_lock:
                client = _clients.get(id(pool))
                if client is None:
                    client = _clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    """`django.core.cache.backends.redis.RedisCache` whose clients share the process's pools."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient

    def incr_expiring(self, key: str, timeout: int, version=None) -> int:
        """Add 1 to `key`'s count and return it; a missing key starts at 1 and lives `timeout` seconds.

        One round trip (INCR, then EXPIRE NX: only the first sets the time to live). Django's `incr`
        takes two (EXISTS, then INCR) and refuses a missing key, so a counter needed a third (`add`).
        The value stays readable with `get` (Django stores an int as its digits)."""
        key = self.make_and_validate_key(key, version=version)
        pipe = self._cache.get_client(key, write=True).pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, timeout, nx=True)
        count, _ = pipe.execute()
        return int(count)
