"""A small per-process cache with a time to live, for hot lookups that change rarely.

Each process keeps its own copy, so a change made elsewhere is seen after at most `ttl` seconds;
the process that makes the change clears its copy at once through model signals (see the users:
`ccp.packages.selectors.bearer_grant`, `tenants.selectors.channel_for_partner` and
`membership_for_user`, `conversations.services.payloads.outbound_event_type`). Values must be
treated as read-only: the same object is handed to every request of the process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


def hot_lookup_ttl() -> float:
    from django.conf import settings

    return float(settings.HOT_LOOKUP_CACHE_SECONDS)


class LocalTtlCache(Generic[V]):
    """`ttl` is read on every call (tests may change the setting); default HOT_LOOKUP_CACHE_SECONDS."""

    def __init__(self, ttl: Callable[[], float] = hot_lookup_ttl, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._data: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every discard/clear: a load that raced one is not stored

    def get_or_load(self, key: Hashable, load: Callable[[], V | None]) -> V | None:
        """The cached value, or `load()` stored for `ttl` seconds (None results are not stored)."""
        ttl = self._ttl()
        if ttl <= 0:
            return load()
        hit = self._data.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._generation
        value = load()
        if value is not None:
            with self._lock:
                if generation != self._generation:
                    return value  # changed while we read: use it for this call only
                if len(self._data) >= self._max:
                    self._data.clear()  # crude but bounded: a burst of new keys costs one reload each
                self._data[key] = (now + ttl, value)
        return value

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._generation += 1
            self._data.pop(key, None)

    def clear(self, **_signal_kwargs) -> None:
        """Forget everything (also usable as a signal receiver)."""
        with self._lock:
            self._generation += 1
            self._data.clear()
