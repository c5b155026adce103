"""The one Redis client getter: a client per process, URL and timeouts, shared by every thread.

Redis carries side effects beside PostgreSQL (see redis_health.py for what happens when it is down).
`redis_client()` is None when REDIS_URL is empty (the embedded default), so callers skip Redis then.
"""

from __future__ import annotations

import threading

import redis
from django.conf import settings

_lock = threading.Lock()
_clients: dict[tuple, redis.Redis] = {}


def redis_client(*, timeout: float = 5, connect_timeout: float | None = None) -> redis.Redis | None:
    """A client for settings.REDIS_URL with these socket timeouts (seconds), or None without Redis.

    Clients are cached per (URL, timeouts), so a test or a process that changes REDIS_URL gets a client
    for the new server; redis-py clients are thread-safe (each command takes a pooled connection)."""
    url = settings.REDIS_URL
    if not url:
        return None
    key = (url, timeout, connect_timeout)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=connect_timeout)
                _clients[key] = client
    return client
