"""Celery tasks of the routing app: they take ids, fetch, and call one service."""

from celery import shared_task
from django.db import transaction

from . import services
from .models import AgentWork


@shared_task(name="routing.tasks.work_expire_task", ignore_result=True)
def work_expire_task(work_id: str) -> None:
    work = AgentWork.objects.filter(pk=work_id).first()
    if work is not None:
        with transaction.atomic():
            services.work_expire(work=work)


@shared_task(name="routing.tasks.work_acw_end_task", ignore_result=True)
def work_acw_end_task(work_id: str) -> None:
    work = AgentWork.objects.filter(pk=work_id).first()
    if work is not None:
        with transaction.atomic():
            services.work_acw_end(work=work, force=False)


@shared_task(name="routing.tasks.routing_sweep_task", ignore_result=True)
def routing_sweep_task() -> None:
    services.routing_sweep()
