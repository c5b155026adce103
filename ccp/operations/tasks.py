"""Celery tasks of operations: they take ids and call one service (imported inside the body)."""

from celery import shared_task


@shared_task(name="ccp.operations.tasks.realtime_push_task", ignore_result=True)
def realtime_push_task(tenant_id: str) -> None:
    from . import services

    services.realtime_push(tenant_id=tenant_id)


@shared_task(name="ccp.operations.tasks.operations_rollup_task", ignore_result=True)
def operations_rollup_task() -> None:
    from . import services

    services.operations_rollup_all()
