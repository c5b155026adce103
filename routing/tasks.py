"""Celery tasks of the routing app: they take ids, fetch, and call one service.

Tasks are thin interfaces: services import them at module level (to `.delay` them or start a timer),
and they import the services inside their bodies, so the two modules never import each other at
load time (the import-linter contract in pyproject.toml keeps the layers).
"""

import logging

from celery import shared_task
from django.db import transaction

from ccp.core.db import retry_on_conflict
from ccp.core.errors import Invalid
from tenants.models import Tenant

from .models import AgentWork, AiRoutingConfig

logger = logging.getLogger(__name__)


@shared_task(name="routing.tasks.work_expire_task", ignore_result=True)
@retry_on_conflict
def work_expire_task(work_id: str) -> None:
    from . import services

    work = AgentWork.objects.filter(pk=work_id).first()
    if work is not None:
        with transaction.atomic():
            services.work_expire(work=work)


@shared_task(name="routing.tasks.work_expire_batch_task", ignore_result=True)
def work_expire_batch_task(work_ids: list[str]) -> int:
    """The expiry timer of a dispatch round: one task for all its offers (with one offer timeout)."""
    from . import services

    return services.work_expire_many(work_ids=work_ids)


@shared_task(name="routing.tasks.routing_dispatch_task", ignore_result=True)
def routing_dispatch_task(tenant_id: str) -> int:
    """Dispatch a tenant's waiting work after capacity changed; coalesced, see services.dispatch_request."""
    from . import services

    return services.routing_dispatch_requested(tenant_id=tenant_id)


@shared_task(name="routing.tasks.work_acw_end_task", ignore_result=True)
@retry_on_conflict
def work_acw_end_task(work_id: str) -> None:
    from . import services

    work = AgentWork.objects.filter(pk=work_id).first()
    if work is not None:
        with transaction.atomic():
            services.work_acw_end(work=work, force=False)


@shared_task(name="routing.tasks.routing_sweep_task", ignore_result=True)
def routing_sweep_task() -> None:
    from . import services

    services.routing_sweep()


@shared_task(name="routing.tasks.tuned_model_train_task", ignore_result=True)
def tuned_model_train_task(tenant_id: int, force: bool = False) -> str:
    """Retrain one tenant's tuned model when enough new feedback arrived since its last model (FIG 17)."""
    from . import services

    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return "no such tenant"
    if not force and not services.tuned_model_train_due(tenant=tenant):
        return "skipped: not enough new feedback since the last model"
    try:
        return services.tuned_model_train(tenant=tenant).summary
    except Invalid as exc:  # too little history yet: try again tomorrow
        logger.info("tuned model of %s not trained: %s", tenant.slug, exc.message)
        return f"not trained: {exc.message}"


@shared_task(name="routing.tasks.tuned_model_train_all_task", ignore_result=True)
def tuned_model_train_all_task() -> int:
    """The daily beat entry: one training task per tenant with AI routing enabled."""
    tenant_ids = list(AiRoutingConfig.objects.filter(enabled=True).values_list("tenant_id", flat=True))
    for tenant_id in tenant_ids:
        tuned_model_train_task.delay(tenant_id)
    return len(tenant_ids)
