"""Celery tasks of operations: they take ids and call one service (imported inside the body)."""

from celery import shared_task


@shared_task(name="ccp.operations.tasks.realtime_push_task", ignore_result=True)
def realtime_push_task(tenant_id: str) -> None:
    from . import services

    services.realtime_push(tenant_id=tenant_id)
