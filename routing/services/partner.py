"""Partner-owned routing: the partner answers routing.requested (events.partner_routing_request asks)."""

from __future__ import annotations

from ccp.core.errors import Invalid
from ccp.packages.choices import Owner
from tenants.models import Membership

from ..choices import (
    Engine,
    WorkItemStatus,
)
from ..errors import (
    AlreadyOffered,
    NotRoutingOwner,
)
from ..models import AgentWork, Queue, WorkItem
from .offers import work_offer, work_route


def partner_route(
    *, work_item: WorkItem, agent: Membership | None = None, queue: Queue | None = None, routing_request_id=None
) -> AgentWork | None:
    """The partner answers routing.requested (or routes on its own): offer to an agent, or queue it."""
    item = WorkItem.objects.select_for_update().get(pk=work_item.pk)
    if item.routing_owner != Owner.PARTNER:
        raise NotRoutingOwner()
    if (
        routing_request_id is not None
        and item.routing_request_id
        and str(routing_request_id) != str(item.routing_request_id)
    ):
        raise Invalid(
            "routing_request_id does not match the open routing request of this conversation.",
            code="stale_routing_request",
            details={"routing_request_id": ["is not the current request"]},
        )
    if agent is not None:
        return work_offer(work_item=item, agent_id=agent.pk, engine=Engine.PARTNER)
    if queue is not None:
        if item.status != WorkItemStatus.QUEUED:
            raise AlreadyOffered()
        item.queue = queue
        item.routing_owner = Owner.PLATFORM  # the partner handed it to a platform queue
        item.required_skills = queue.required_skills
        item.priority = max(item.priority, queue.priority)
        item.save(update_fields=["queue", "routing_owner", "required_skills", "priority"])
        return work_route(work_item=item)
    raise Invalid("Give agent_id or queue.", code="invalid", details={"agent_id": ["agent_id or queue is required"]})
