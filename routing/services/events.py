"""The routing app's events and what they carry: the work.* payload, agent.capacity_changed and
routing.requested (the partner is asked to route), published in the caller's transaction.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ccp.events.services import event_publish

from ..models import AgentPresence, AgentWork, WorkItem


def work_data(work: AgentWork) -> dict:
    item = work.work_item
    return {
        "work_id": str(work.id),
        "work_item_id": str(item.id),
        "kind": item.kind,
        "reference": item.reference,
        "agent_id": str(work.agent_id),
        "status": work.status,
        "engine": work.engine,
        "channel_type": work.channel_type,
        "offered_at": work.offered_at,
        "expires_at": work.expires_at,
        "acw_ends_at": work.acw_ends_at,
        "reason": work.reason,
        "is_transfer": item.is_transfer,
        "attributes": item.attributes,
    }


def work_publish(work: AgentWork, type_: str, *, agents=None) -> None:
    """To the work's agent (or `agents`, checked). The work's agent is the tenant's member by
    construction: an offer is made only to an agent whose presence row it read by the item's tenant
    (`offers._offer`, `dispatch`'s pool), so that membership is not looked up again."""
    event_publish(
        tenant=work.work_item.tenant,
        type=type_,
        data=work_data(work),
        partner=work.work_item.partner,
        agent_ids=agents if agents is not None else [work.agent_id],
        agents_checked=agents is None,
    )


def capacity_publish(presence: AgentPresence) -> None:
    used = agent_capacity_used(presence.membership_id)
    event_publish(
        tenant=presence.tenant,
        type="agent.capacity_changed",
        data={
            "agent_id": str(presence.membership_id),
            "capacity": {
                k: {"max": presence.max_for(k), "used": used.get(k, 0)}
                for k in sorted(set(presence.capacity) | set(used))
            },
        },
        agent_ids=[presence.membership_id],
        agents_checked=True,  # a presence row is its member's, in the member's tenant
    )


def agent_capacity_used(membership_id) -> dict[str, int]:
    """Capacity this agent holds per channel type (one query)."""
    return next(iter(AgentWork.objects.filter(agent_id=membership_id).used_capacity().values()), {})


def partner_routing_request(item: WorkItem, *, routing_type: str) -> None:
    item.routing_request_id = uuid.uuid4()
    item.routing_deadline = timezone.now() + timedelta(seconds=settings.PARTNER_ROUTING_DEADLINE_SECONDS)
    item.save(update_fields=["routing_request_id", "routing_deadline"])
    event_publish(
        tenant=item.tenant,
        type="routing.requested",
        data={
            "routing_request_id": str(item.routing_request_id),
            "routing_type": routing_type,
            "deadline": item.routing_deadline,
            "work_item_id": str(item.id),
            "kind": item.kind,
            "reference": item.reference,
            "channel_type": item.channel_type,
            "excluded_agents": item.excluded_agents,
            "attributes": item.attributes,
        },
        partner=item.partner,
    )
