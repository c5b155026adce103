"""Reads of the routing app: presence, live capacity, work."""

from __future__ import annotations

import uuid

from django.db.models import Count, Sum

from tenants.choices import Role
from tenants.models import Membership, Tenant

from .choices import HOLDING_STATUSES
from .errors import AgentNotFound, QueueNotFound, WorkNotFound
from .models import AgentPresence, AgentWork, Queue


def _uuid(value):
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError):
        return None


def access_agent(*, tenant: Tenant, agent_id) -> Membership:
    """An agent or supervisor of this tenant; anyone else is AgentNotFound."""
    found = (
        Membership.objects.filter(tenant=tenant, pk=_uuid(agent_id), role__in=[Role.AGENT, Role.SUPERVISOR])
        .select_related("user")
        .first()
    )
    if found is None:
        raise AgentNotFound()
    return found


def access_queue(*, tenant: Tenant, name: str) -> Queue:
    queue = Queue.objects.filter(tenant=tenant, name=name).first()
    if queue is None:
        raise QueueNotFound(f"No queue '{name}' in this tenant.")
    return queue


def access_work(*, tenant: Tenant, work_id, agent: Membership | None = None) -> AgentWork:
    """Work of this tenant (and of this agent, when given); anything else is WorkNotFound."""
    filters = {"tenant": tenant, "pk": _uuid(work_id)}
    if agent is not None:
        filters["agent"] = agent
    work = AgentWork.objects.select_related("work_item", "agent").filter(**filters).first()
    if work is None:
        raise WorkNotFound()
    return work


def presence_for(*, membership: Membership) -> AgentPresence:
    presence, _ = AgentPresence.objects.get_or_create(
        membership=membership, defaults={"tenant_id": membership.tenant_id}
    )
    return presence


def used_capacity(*, membership: Membership) -> dict[str, int]:
    """Capacity in use per channel type, counted in the database from holding work."""
    rows = (
        AgentWork.objects.filter(agent=membership, status__in=HOLDING_STATUSES)
        .values("channel_type")
        .annotate(used=Sum("weight"))
    )
    return {row["channel_type"]: int(row["used"] or 0) for row in rows}


def agents_with_capacity(*, tenant: Tenant) -> list[dict]:
    """Every agent of the tenant with status, skills and capacity {type: {max, used}} (two queries)."""
    members = list(
        Membership.objects.filter(tenant=tenant, role__in=[Role.AGENT, Role.SUPERVISOR])
        .select_related("user", "presence")
        .prefetch_related("skills__skill")
        .order_by("user__username")
    )
    used_rows = (
        AgentWork.objects.filter(tenant=tenant, status__in=HOLDING_STATUSES)
        .values("agent_id", "channel_type")
        .annotate(used=Sum("weight"), n=Count("id"))
    )
    used: dict = {}
    for row in used_rows:
        used.setdefault(row["agent_id"], {})[row["channel_type"]] = int(row["used"] or 0)
    out = []
    for m in members:
        presence = getattr(m, "presence", None)
        capacity = presence.capacity if presence else {}
        out.append(
            {
                "id": str(m.id),
                "name": m.name,
                "username": m.user.username,
                "role": m.role,
                "status": presence.status if presence else "offline",
                "status_since": presence.status_since if presence else None,
                "skills": {s.skill.name: s.level for s in m.skills.all()},
                "capacity": {
                    kind: {"max": int(capacity.get(kind, 0) or 0), "used": used.get(m.id, {}).get(kind, 0)}
                    for kind in sorted(set(capacity) | set(used.get(m.id, {})))
                },
            }
        )
    return out


def open_work_for_agent(*, membership: Membership):
    return (
        AgentWork.objects.filter(agent=membership, status__in=HOLDING_STATUSES)
        .select_related("work_item")
        .order_by("offered_at")
    )
