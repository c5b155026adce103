"""Reads of the routing app: presence, live capacity, work."""

from __future__ import annotations

import uuid

from django.db.models import Count, Min, Sum
from django.utils import timezone

from tenants.choices import Role
from tenants.models import Membership, Tenant

from .choices import HOLDING_STATUSES, WorkItemStatus
from .errors import AgentNotFound, QueueNotFound, WorkNotFound
from .models import AgentPresence, AgentWork, Queue, RouteDecision, WorkItem


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


def supervisor_overview(*, tenant: Tenant, decisions: int = 30) -> dict:
    """Queues (waiting, longest wait), agents (status, load) and recent routing decisions of a tenant."""
    now = timezone.now()
    waiting = (
        WorkItem.objects.filter(tenant=tenant, status__in=[WorkItemStatus.QUEUED, WorkItemStatus.OFFERED])
        .values("queue__name", "status")
        .annotate(n=Count("id"), oldest=Min("enqueued_at"))
    )
    queues: dict[str, dict] = {
        name: {"name": name, "waiting": 0, "offered": 0, "longest_wait_seconds": 0}
        for name in Queue.objects.filter(tenant=tenant).values_list("name", flat=True)
    }
    for row in waiting:
        name = row["queue__name"] or "(no queue)"
        entry = queues.setdefault(name, {"name": name, "waiting": 0, "offered": 0, "longest_wait_seconds": 0})
        entry["waiting" if row["status"] == WorkItemStatus.QUEUED else "offered"] += row["n"]
        if row["status"] == WorkItemStatus.QUEUED and row["oldest"]:
            wait = (now - row["oldest"]).total_seconds()
            entry["longest_wait_seconds"] = max(entry["longest_wait_seconds"], round(wait, 1))
    recent = [
        {
            "id": str(d.id),
            "created_at": d.created_at,
            "engine": d.engine,
            "strategy": d.strategy,
            "outcome": d.outcome,
            "agent": d.chosen_agent.name if d.chosen_agent_id else None,
            "reference": d.work_item.reference,
            "queue": d.inputs.get("queue"),
            "latency_ms": round(d.latency_ms, 2),
            "reason": d.reason,
        }
        for d in RouteDecision.objects.filter(tenant=tenant)
        .select_related("chosen_agent__user", "work_item")
        .order_by("-created_at")[:decisions]
    ]
    return {
        "generated_at": now,
        "queues": sorted(queues.values(), key=lambda q: q["name"]),
        "agents": agents_with_capacity(tenant=tenant),
        "decisions": recent,
    }
