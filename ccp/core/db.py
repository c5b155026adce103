"""Database helpers shared by the apps: the safety net at the transaction boundary, and robust
on-commit callbacks.

A transaction that lost a deadlock or a serialization conflict is run again, whole, a bounded number
of times with jitter (`retry_on_conflict`).

The lock orders of the services are written so that this should not happen (routing/services/__init__.py's
module docstring); this is for what they did not foresee. Only the outermost transaction is retried
— inside another one, the exception goes up to whoever owns that transaction — and only because the
whole unit of work rolled back: outbox rows and on-commit callbacks of the failed attempt are gone
with it, so running it again is idempotent. When every attempt lost, the caller gets `RetryLater`
(503 `retry_later` with `Retry-After` at the API edge), never a 500.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import OperationalError, connection, transaction

from .errors import RetryLater

logger = logging.getLogger(__name__)

T = TypeVar("T")

# PostgreSQL: deadlock_detected, serialization_failure (a retryable "transaction rollback" class)
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def is_retryable_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure (PostgreSQL), or a lock wait that timed out (SQLite)."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    return connection.vendor == "sqlite" and "database is locked" in str(exc)


def retry_on_conflict(fn: Callable[..., T]) -> Callable[..., T]:
    """Run `fn` again when its transaction lost a conflict (see the module docstring).

    `fn` must own its transactions: it is retried only when called outside any atomic block.
    Attempts and the backoff come from DB_CONFLICT_RETRIES and DB_CONFLICT_BACKOFF_SECONDS.
    """

    @functools.wraps(fn)
    def run(*args, **kwargs):
        attempts = max(1, settings.DB_CONFLICT_RETRIES + 1)
        for attempt in range(1, attempts + 1):
            try:
                return fn(*args, **kwargs)
            except OperationalError as exc:
                if connection.in_atomic_block or not is_retryable_conflict(exc):
                    raise
                if attempt == attempts:
                    logger.warning("%s lost a database conflict %d times: %s", fn.__qualname__, attempts, exc)
                    raise RetryLater() from exc
                # full jitter on an exponential backoff, so the losers do not collide again in step
                delay = random.uniform(0, settings.DB_CONFLICT_BACKOFF_SECONDS * 2 ** (attempt - 1))
                logger.info("%s lost a database conflict (attempt %d), retrying: %s", fn.__qualname__, attempt, exc)
                time.sleep(delay)
        raise AssertionError("unreachable")

    return run


def on_commit_robust(func: Callable, *args) -> None:
    """`transaction.on_commit(robust=True)` of `func(*args)`.

    Django logs a failing robust callback by its `__qualname__`, which a bare `functools.partial`
    lacks: the AttributeError then escaped the commit and the request answered 500 although its
    data was committed (seen with PostgreSQL connections cut after COMMIT). The wrapper has a name.
    """
    transaction.on_commit(functools.update_wrapper(functools.partial(func, *args), func), robust=True)
