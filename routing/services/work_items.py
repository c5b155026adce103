"""Work items: queueing a routable unit, cancelling it, erasing a person's data from routing records."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ccp.core.redaction import REDACTED, clean_needles, redact_json
from ccp.packages.choices import Owner
from tenants.models import Membership, Tenant

from ..choices import (
    Engine,
    WorkItemStatus,
    WorkStatus,
)
from ..models import AgentWork, Queue, RouteDecision, RouteFeedback, WorkItem
from .events import partner_routing_request, work_publish
from .offers import work_close, work_finish, work_offer, work_route_item


def channel_type_defaults(channel_type: str) -> tuple[str, int | None]:
    """A channel type's routing defaults (settings.ROUTING_CHANNEL_TYPES): the capacity bucket its work
    counts against and its offer timeout. An e-mail is messaging work that may wait longer for an
    answer; a type without an entry is its own bucket with the usual timeout."""
    defaults = settings.ROUTING_CHANNEL_TYPES.get(channel_type) or {}
    return defaults.get("capacity", channel_type), defaults.get("offer_timeout_seconds")


@transaction.atomic
def work_item_create(
    *,
    tenant: Tenant,
    reference: str,
    kind: str = "messaging_session",
    channel_type: str = "messaging",
    routing_owner: str = Owner.PLATFORM,
    partner=None,
    queue: Queue | None = None,
    required_skills: list[dict] | None = None,
    priority: int | None = None,
    attributes: dict | None = None,
    preferred_agent: Membership | None = None,
    is_transfer: bool = False,
    excluded_agents: list | None = None,
) -> WorkItem:
    """Queue a routable unit. Platform-owned work is routed now; partner-owned work asks the partner."""
    channel_type, offer_timeout = channel_type_defaults(channel_type)
    item = WorkItem.objects.create(
        tenant=tenant,
        kind=kind,
        reference=reference,
        channel_type=channel_type,
        offer_timeout_seconds=offer_timeout,
        routing_owner=routing_owner,
        partner=partner,
        queue=queue,
        required_skills=required_skills if required_skills is not None else (queue.required_skills if queue else []),
        priority=priority if priority is not None else (queue.priority if queue else 0),
        attributes=attributes or {},
        preferred_agent=preferred_agent,
        is_transfer=is_transfer,
        excluded_agents=[str(a) for a in excluded_agents or []],
    )
    if routing_owner == Owner.PARTNER:
        partner_routing_request(item, routing_type="transfer" if is_transfer else "initial")
    else:
        work_route_item(item, engine=Engine.PLATFORM, pool=None, created=True)
    return item


def work_item_offer_direct(
    *,
    tenant: Tenant,
    reference: str,
    agent_id,
    kind: str = "messaging_session",
    channel_type: str = "messaging",
    partner=None,
    attributes: dict | None = None,
    is_transfer: bool = False,
) -> tuple[WorkItem, AgentWork]:
    """Queue a work item for one named agent and offer it to them at once (engine DIRECT): a direct
    transfer, or the work of an agent who starts a conversation. Runs in the caller's transaction
    (work_offer's precondition). Returns the item as created and the offer."""
    channel_type, offer_timeout = channel_type_defaults(channel_type)
    item = WorkItem.objects.create(
        tenant=tenant,
        reference=reference,
        kind=kind,
        channel_type=channel_type,
        offer_timeout_seconds=offer_timeout,
        partner=partner,
        attributes=attributes or {},
        is_transfer=is_transfer,
    )
    return item, work_offer(work_item=item, agent_id=agent_id, engine=Engine.DIRECT)


def work_items_end(*, tenant_id, reference: str, acw_seconds: int = 0, reason: str = "") -> None:
    """The routed thing is over (its conversation closed): accepted work closes (into ACW when
    `acw_seconds`), and every unfinished work item of the reference is cancelled. Runs in the
    caller's transaction."""
    for item in WorkItem.objects.filter(reference=reference, tenant_id=tenant_id).exclude(
        status__in=(WorkItemStatus.DONE, WorkItemStatus.CANCELED)
    ):
        for work in item.works.filter(status=WorkStatus.ACCEPTED):
            work_close(work=work, acw_seconds=acw_seconds)
        work_item_cancel(work_item=item, reason=reason)


def work_item_cancel(*, work_item: WorkItem, reason: str = "") -> None:
    """End a work item that no longer needs an agent (the conversation closed): rescind open offers."""
    item = WorkItem.objects.select_for_update().get(pk=work_item.pk)
    for work in item.works.filter(status=WorkStatus.OFFERED).select_related("work_item"):
        work_finish(work, WorkStatus.RESCINDED, reason=reason or "the conversation ended")
        work_publish(work, "work.rescinded")
    if item.status in (WorkItemStatus.QUEUED, WorkItemStatus.OFFERED):
        item.status = WorkItemStatus.CANCELED
        item.done_at = timezone.now()
        item.save(update_fields=["status", "done_at"])


def work_items_erase(*, tenant: Tenant, references: list[str], needles: list[str]) -> dict:
    """Remove a person's data from the routing records of their work (an erase request).

    `references` are the routed things (session ids); `needles` the person's name, addresses and
    texts. Work items lose their attributes; route decisions keep engine, candidates' ids, outcome
    and timings (the audit and training signal) but lose the contact fields and any string that
    quotes the person; feedback keeps resolved and rating, not its comment. Runs in the caller's
    transaction."""
    needles = clean_needles(needles)
    items = WorkItem.objects.filter(tenant=tenant, reference__in=references)
    item_ids = list(items.values_list("pk", flat=True))
    items.exclude(attributes={}).update(attributes={})
    decisions = 0
    for decision in RouteDecision.objects.filter(tenant=tenant, work_item_id__in=item_ids):
        inputs = redact_json(decision.inputs, needles)
        candidates = redact_json(decision.candidates, needles)
        if inputs != decision.inputs or candidates != decision.candidates:
            RouteDecision.objects.filter(pk=decision.pk).update(inputs=inputs, candidates=candidates)
            decisions += 1
    comments = (
        RouteFeedback.objects.filter(tenant=tenant, work_item_id__in=item_ids)
        .exclude(comment="")
        .update(comment=REDACTED)
    )
    return {"work_items": len(item_ids), "route_decisions": decisions, "feedback_comments": comments}
