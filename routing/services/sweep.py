"""The safety net behind the timers: expire due offers, end due ACW, fall back from silent partners,
overflow waiting work and dispatch (Celery beat's `routing_sweep_task`, or the in-process sweeper)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ccp.packages.choices import Owner

from ..choices import (
    WorkItemStatus,
    WorkStatus,
)
from ..models import AgentWork, WorkItem
from .dispatch import routing_dispatch
from .offers import work_acw_end, work_expire, work_route


def routing_sweep(*, now=None) -> dict[str, int]:
    """The safety net behind the timers: expire due offers, end due ACW, fall back from silent partners,
    overflow waiting work, relax skills and dispatch. Celery beat runs it every few seconds."""
    now = now or timezone.now()
    counts = {"expired": 0, "acw_ended": 0, "partner_fallback": 0, "overflowed": 0, "dispatched": 0}
    for work in AgentWork.objects.filter(status=WorkStatus.OFFERED, expires_at__lte=now).order_by("expires_at")[:500]:
        with transaction.atomic():
            counts["expired"] += work_expire(work=work, now=now) is not None
    for work in AgentWork.objects.filter(status=WorkStatus.ACW, acw_ends_at__lte=now)[:500]:
        with transaction.atomic():
            counts["acw_ended"] += work_acw_end(work=work, force=False, now=now) is not None
    stale = WorkItem.objects.filter(
        status=WorkItemStatus.QUEUED, routing_owner=Owner.PARTNER, routing_deadline__lte=now
    ).values_list("pk", flat=True)[:500]
    for pk in stale:
        with transaction.atomic():
            item = WorkItem.objects.select_for_update().get(pk=pk)
            if item.status == WorkItemStatus.QUEUED and item.routing_owner == Owner.PARTNER:
                item.routing_owner = Owner.PLATFORM
                item.attributes = {**item.attributes, "fallback": "the partner did not route before the deadline"}
                item.save(update_fields=["routing_owner", "attributes"])
                counts["partner_fallback"] += 1
                work_route(work_item=item)
    overflow = WorkItem.objects.filter(
        status=WorkItemStatus.QUEUED,
        queue__overflow_queue__isnull=False,
        queue__overflow_after_seconds__isnull=False,
    ).select_related("queue")[:500]
    for item in overflow:
        if (now - item.enqueued_at).total_seconds() >= item.queue.overflow_after_seconds:
            with transaction.atomic():
                WorkItem.objects.filter(pk=item.pk, status=WorkItemStatus.QUEUED).update(
                    queue=item.queue.overflow_queue_id, enqueued_at=now
                )
                counts["overflowed"] += 1
    for tenant_id in set(
        WorkItem.objects.filter(status=WorkItemStatus.QUEUED, routing_owner=Owner.PLATFORM).values_list(
            "tenant_id", flat=True
        )
    ):
        counts["dispatched"] += routing_dispatch(tenant_id=tenant_id)
    return counts
