"""Timers of routing: a task run at a given time, started after the writing transaction commits.

The offers' expiry (`work_expire_task`, `work_expire_batch_task`) and the end of after-conversation
work (`work_acw_end_task`) are timers; `routing_sweep` (services/sweep.py) is the safety net behind
them. Callers pass the task itself (imported at module level from routing.tasks), never its name.
"""

from __future__ import annotations

import threading

from celery import Task
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ccp.core.redis_health import redis_failed, redis_skipping


def timer_start(when, task: Task, arg) -> None:
    """Run `task` with `arg` at `when`, after commit: a Celery countdown, or a timer thread on the
    embedded default."""

    def send():
        delay = max(0.0, (when - timezone.now()).total_seconds())
        if settings.CELERY_TASK_ALWAYS_EAGER:

            def run():
                try:
                    task.apply(args=(arg,))
                finally:
                    connection.close()  # this thread's own connection

            timer = threading.Timer(delay + 0.05, run)
            timer.daemon = True
            timer.start()
        elif not redis_skipping():  # Redis down: routing_sweep expires due offers and ends due ACW
            try:
                task.apply_async(args=(arg,), countdown=delay + 0.05)
            except Exception as exc:  # a broker retry costs ~0.6 s: let the next ones skip for a while
                redis_failed("routing timer", exc)

    transaction.on_commit(send, robust=True)
