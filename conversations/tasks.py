"""Celery tasks of conversations: thin, each calls one service (imported inside the body)."""

from celery import shared_task


@shared_task(name="conversations.tasks.sla_sweep_task", ignore_result=True)
def sla_sweep_task() -> None:
    from . import services

    services.sla_sweep()
