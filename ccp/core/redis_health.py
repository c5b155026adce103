"""A per-process circuit breaker for what Redis carries beside the system of record.

PostgreSQL holds every write; Redis carries side effects (websocket pushes, the Celery relay
enqueue, stream wake-ups, rate-limit counts, caches). When Redis is down each of those fails — a
Celery enqueue only after ~0.6 s of retries — so after one failure this process skips them for
`REDIS_DOWN_BACKOFF_SECONDS` and lets the outbox sweep catch up when Redis is back. The state is
one timestamp per process, bounded in time: a process that never saw the failure simply tries.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

logger = logging.getLogger(__name__)

_down_until = 0.0


def redis_skipping() -> bool:
    """Whether a Redis failure was seen less than `REDIS_DOWN_BACKOFF_SECONDS` ago in this process."""
    return time.monotonic() < _down_until


def redis_failed(what: str, exc: BaseException | None = None) -> None:
    """Record a Redis failure: skip Redis-carried side effects for a while (logged once per window)."""
    global _down_until
    now = time.monotonic()
    if now >= _down_until:
        logger.warning(
            "Redis unavailable (%s: %s); skipping Redis side effects for %.1f s, the outbox sweep catches up",
            what,
            f"{exc.__class__.__name__}: {exc}"[:200] if exc is not None else "-",
            settings.REDIS_DOWN_BACKOFF_SECONDS,
        )
    _down_until = now + float(settings.REDIS_DOWN_BACKOFF_SECONDS)


def redis_recovered() -> None:
    """A Redis call succeeded: stop skipping at once."""
    global _down_until
    _down_until = 0.0
