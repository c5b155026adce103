"""Celery tasks of the platform core."""

from celery import shared_task


@shared_task(name="core.idempotency_prune", ignore_result=True)
def idempotency_prune_task() -> None:
    from . import services

    services.idempotency_prune()
