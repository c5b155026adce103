"""Agents' presence and capacity. Lock order: see the package docstring (routing/services/__init__.py)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ccp.core.errors import Invalid
from ccp.events.services import event_publish
from tenants.models import Membership

from ..choices import (
    PresenceStatus,
)
from ..models import AgentPresence, AgentStatusSpan
from .dispatch import dispatch_on_commit
from .events import capacity_publish


def presence_lock(membership: Membership) -> AgentPresence:
    """The agent's presence row, locked (created first if the agent has none yet): one query when it exists."""
    locked = AgentPresence.objects.select_for_update(of=("self",)).select_related("membership", "tenant")
    presence = locked.filter(membership=membership).first()
    if presence is None:
        AgentPresence.objects.get_or_create(membership=membership, defaults={"tenant_id": membership.tenant_id})
        presence = locked.get(membership=membership)
    return presence


def presence_span_record(presence: AgentPresence) -> None:
    """Close the agent's open status span and open one for the status just set (at
    `presence.status_since`): the presence history the operations reports add up. Runs in the
    caller's transaction, under the presence row lock."""
    AgentStatusSpan.objects.filter(agent_id=presence.membership_id, ended_at__isnull=True).update(
        ended_at=presence.status_since
    )
    AgentStatusSpan.objects.create(
        tenant_id=presence.tenant_id,
        agent_id=presence.membership_id,
        status=presence.status,
        started_at=presence.status_since,
    )


@transaction.atomic
def presence_set(*, membership: Membership, status: str, source: str = "agent") -> AgentPresence:
    """Set an agent's presence; going online makes waiting work flow to them at once."""
    if status not in PresenceStatus.values:
        raise Invalid(
            f"Unknown status '{status}'; use one of {', '.join(PresenceStatus.values)}.",
            code="invalid_status",
            details={"status": [f"must be one of {', '.join(PresenceStatus.values)}"]},
        )
    presence = presence_lock(membership)
    if presence.status != status:
        presence.status = status
        presence.status_since = timezone.now()
        if status == PresenceStatus.ONLINE:
            presence.ignored_offers = 0
        presence.save(update_fields=["status", "status_since", "ignored_offers"])
        presence_span_record(presence)
        event_publish(
            tenant=presence.tenant,
            type="agent.status_changed",
            data={"agent_id": str(membership.pk), "status": status, "since": presence.status_since, "source": source},
            agent_ids=[membership.pk],
            agents_checked=True,  # the presence row locked is this member's, in its tenant
        )
        if status == PresenceStatus.ONLINE:
            dispatch_on_commit(tenant_id=presence.tenant_id)
    return presence


@transaction.atomic
def capacity_set(*, membership: Membership, capacity: dict[str, int]) -> AgentPresence:
    problems = {k: ["must be a whole number from 0 to 50"] for k, v in capacity.items() if not _small_int(v)}
    unknown = set(capacity) - {"messaging", "voice", "video"}
    for kind in unknown:
        problems[kind] = ["is not a channel type (messaging, voice, video)"]
    if problems:
        raise Invalid("Capacity must map channel types to whole numbers.", code="invalid_capacity", details=problems)
    presence = presence_lock(membership)
    presence.capacity = {**presence.capacity, **{k: int(v) for k, v in capacity.items()}}
    presence.save(update_fields=["capacity"])
    capacity_publish(presence)
    dispatch_on_commit(tenant_id=presence.tenant_id)
    return presence


def _small_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 50
