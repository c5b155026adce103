"""Reads of the routing app: presence, live capacity, work."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from ccp.ai.abtest import compare_means, compare_rates, mean_ci, verdict, wilson
from ccp.ai.outcomes import OutcomeSignals, outcome_score
from ccp.core.ids import parse_id
from tenants.choices import Role
from tenants.models import Membership, Tenant

from .choices import HOLDING_STATUSES, WorkItemStatus, WorkStatus
from .errors import AgentNotFound, QueueNotFound, WorkNotFound
from .models import AgentPresence, AgentWork, AiRoutingConfig, Queue, RouteDecision, RouteFeedback, WorkItem


def access_agent(*, tenant: Tenant, agent_id) -> Membership:
    """An agent or supervisor of this tenant; anyone else is AgentNotFound."""
    found = (
        Membership.objects.filter(tenant=tenant, pk=parse_id(agent_id), role__in=[Role.AGENT, Role.SUPERVISOR])
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
    filters = {"tenant": tenant, "pk": parse_id(work_id)}
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


def agents_with_capacity(*, tenant: Tenant, among: QuerySet[Membership] | None = None) -> list[dict]:
    """Every agent of the tenant (or of `among`, a narrower set) with status, skills and capacity
    {type: {max, used}} (two queries)."""
    members_query = Membership.objects.filter(tenant=tenant, role__in=[Role.AGENT, Role.SUPERVISOR])
    if among is not None:
        members_query = members_query.filter(pk__in=among.values("pk"))
    members = list(
        members_query.select_related("user", "presence").prefetch_related("skills__skill").order_by("user__username")
    )
    holding = AgentWork.objects.filter(tenant=tenant)
    if among is not None:  # one agent's row (the agent API) must not count the whole tenant's work
        holding = holding.filter(agent_id__in=[m.id for m in members])
    used = holding.used_capacity()
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


def agent_with_capacity(*, membership: Membership) -> dict:
    """One agent's row of `agents_with_capacity` (an agent or supervisor; AgentNotFound for anyone else)."""
    rows = agents_with_capacity(tenant=membership.tenant, among=Membership.objects.filter(pk=membership.pk))
    if not rows:
        raise AgentNotFound()
    return rows[0]


def open_work_for_agent(*, membership: Membership):
    return AgentWork.objects.filter(agent=membership).holding().select_related("work_item").order_by("offered_at")


def finished_work_for_agent(*, tenant: Tenant, membership: Membership, limit: int) -> QuerySet[AgentWork]:
    """The agent's work that no longer holds capacity, newest first, with its work item."""
    return (
        AgentWork.objects.filter(tenant=tenant, agent=membership)
        .exclude(status__in=HOLDING_STATUSES)
        .select_related("work_item")
        .order_by("-offered_at")[:limit]
    )


def queue_names(*, tenant: Tenant) -> list[str]:
    return list(Queue.objects.filter(tenant=tenant).values_list("name", flat=True))


def ab_outcomes(*, tenant: Tenant, since) -> list[dict]:
    """Per A/B arm (ai, platform), for work items first routed since `since`: how many were routed, how
    many the AI engine itself placed, the resolution rate from RouteFeedback (latest per item), the
    transfers that followed, abandonment after routing, the mean handle time (accepted → closed) and the
    mean outcome score (ccp.ai.outcomes) of the finished conversations — each with its 95 % interval
    (Wilson for rates, normal for means). Six queries."""
    return ab_report(tenant=tenant, since=since)["arms"]


def ab_report(*, tenant: Tenant, since) -> dict:
    """`ab_outcomes` plus the AI-minus-platform comparisons, a `significant` flag and a sentence."""
    items: dict = {}
    for item_id, reference, arm, engine, outcome in (
        RouteDecision.objects.filter(tenant=tenant, created_at__gte=since, arm__in=["ai", "platform"])
        .order_by("created_at")
        .values_list("work_item_id", "work_item__reference", "arm", "engine", "outcome")
    ):
        entry = items.setdefault(item_id, {"reference": reference, "arm": arm, "offered": False, "by_ai": False})
        entry["offered"] |= outcome == "offered"
        entry["by_ai"] |= outcome == "offered" and engine == "ai"
    routed = {pk: e for pk, e in items.items() if e["offered"]}
    for entry in routed.values():
        entry.update(feedback=None, rating=None, transfers=0, handle=None, served=False, status=None)
    for item_id, resolved, rating in (
        RouteFeedback.objects.filter(tenant=tenant, work_item_id__in=list(routed))
        .order_by("created_at", "pk")
        .values_list("work_item_id", "resolved", "rating")
    ):
        routed[item_id].update(feedback=resolved, rating=rating)
    by_reference = {e["reference"]: e for e in routed.values()}
    for reference in WorkItem.objects.filter(
        tenant=tenant, is_transfer=True, reference__in=list(by_reference)
    ).values_list("reference", flat=True):
        by_reference[reference]["transfers"] += 1
    for item_id, answered, closed in AgentWork.objects.filter(
        tenant=tenant, work_item_id__in=list(routed), answered_at__isnull=False
    ).values_list("work_item_id", "answered_at", "closed_at"):
        routed[item_id]["served"] = True
        if closed is not None:
            routed[item_id]["handle"] = (closed - answered).total_seconds()
    for item_id, status in WorkItem.objects.filter(pk__in=list(routed)).values_list("pk", "status"):
        routed[item_id]["status"] = status
    per_arm: dict[str, dict[str, list]] = {
        arm: {"entries": [], "handle": [], "score": []} for arm in ("ai", "platform")
    }
    for entry in routed.values():
        data = per_arm[entry["arm"]]
        data["entries"].append(entry)
        entry["abandoned"] = entry["status"] == WorkItemStatus.CANCELED and not entry["served"]
        if entry["handle"] is not None:
            data["handle"].append(entry["handle"])
        if entry["abandoned"] or entry["handle"] is not None:  # finished: its outcome is known
            signals = OutcomeSignals(
                served=entry["served"],
                abandoned=entry["abandoned"],
                resolved=entry["feedback"],
                rating=entry["rating"],
                transfers=entry["transfers"],
                handle_seconds=entry["handle"],
            )
            data["score"].append(outcome_score(signals=signals))
    arms = []
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    for arm, data in per_arm.items():
        entries = data["entries"]
        n = len(entries)
        feedback = [e for e in entries if e["feedback"] is not None]
        resolved = sum(1 for e in feedback if e["feedback"])
        transferred = sum(1 for e in entries if e["transfers"])
        abandoned = sum(1 for e in entries if e["abandoned"])
        handle, score = data["handle"], data["score"]
        counts[arm] = {
            "resolution_rate": (resolved, len(feedback)),
            "transfer_rate": (transferred, n),
            "abandonment_rate": (abandoned, n),
        }
        arms.append(
            {
                "arm": arm,
                "routed": n,
                "placed_by_ai": sum(1 for e in entries if e["by_ai"]),
                "feedback": len(feedback),
                "resolved": resolved,
                "resolution_rate": round(resolved / len(feedback), 4) if feedback else None,
                "resolution_ci": wilson(successes=resolved, n=len(feedback)),
                "transfers": sum(e["transfers"] for e in entries),
                "transfer_rate": round(transferred / n, 4) if n else None,
                "transfer_ci": wilson(successes=transferred, n=n),
                "abandoned": abandoned,
                "abandonment_rate": round(abandoned / n, 4) if n else None,
                "abandonment_ci": wilson(successes=abandoned, n=n),
                "handled": len(handle),
                "mean_handle_seconds": round(sum(handle) / len(handle), 1) if handle else None,
                "handle_ci": mean_ci(values=handle, digits=1),
                "scored": len(score),
                "mean_outcome_score": round(sum(score) / len(score), 4) if score else None,
                "outcome_score_ci": mean_ci(values=score),
            }
        )
    comparisons = [
        compare_rates(metric=metric, a=counts["ai"][metric], b=counts["platform"][metric])
        for metric in ("resolution_rate", "transfer_rate", "abandonment_rate")
    ]
    comparisons.append(
        compare_means(
            metric="mean_handle_seconds", a=per_arm["ai"]["handle"], b=per_arm["platform"]["handle"], digits=1
        )
    )
    comparisons.append(
        compare_means(metric="mean_outcome_score", a=per_arm["ai"]["score"], b=per_arm["platform"]["score"])
    )
    routed_counts = {row["arm"]: row["routed"] for row in arms}
    return {
        "arms": arms,
        "comparisons": comparisons,
        "significant": any(row["significant"] for row in comparisons),
        "verdict": verdict(comparisons=comparisons, routed=routed_counts),
    }


def supervisor_overview(*, tenant: Tenant, decisions: int = 30, ab_window_hours: int = 168) -> dict:
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
    config = AiRoutingConfig.objects.filter(tenant=tenant).first()
    recent = [
        {
            "id": str(d.id),
            "created_at": d.created_at,
            "engine": d.engine,
            "arm": d.arm,
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
        "ab": {
            "window_hours": ab_window_hours,
            "enabled": bool(config and config.enabled),
            "share": config.share if config else 0,
            **ab_report(tenant=tenant, since=now - timedelta(hours=ab_window_hours)),
        },
    }


def routed_work_item(*, tenant: Tenant, references: list[str]) -> WorkItem:
    """The most recent first-routing work item (not a transfer) of these references, e.g. a conversation's
    session ids: what feedback on the conversation's route is about. Raises WorkNotFound when none."""
    found = (
        WorkItem.objects.filter(tenant=tenant, reference__in=references, is_transfer=False)
        .order_by("-created_at")
        .first()
    )
    if found is None:
        raise WorkNotFound(
            "This conversation was never routed: there is no route to give feedback on.", code="not_routed"
        )
    return found


# --- a routed thing's work items (e.g. a conversation's session), for the apps that route it -------

OPEN_ITEM_STATUSES = (WorkItemStatus.QUEUED, WorkItemStatus.OFFERED, WorkItemStatus.ASSIGNED)


def open_work_item(*, tenant_id, reference: str) -> WorkItem | None:
    """The reference's first-routing work item (not a transfer) still queued, offered or assigned; or None."""
    return WorkItem.objects.filter(
        tenant_id=tenant_id, reference=reference, status__in=OPEN_ITEM_STATUSES, is_transfer=False
    ).first()


def pending_transfer_item(
    *, tenant_id, reference: str, statuses=(WorkItemStatus.QUEUED, WorkItemStatus.OFFERED)
) -> WorkItem | None:
    """The reference's transfer work item in one of `statuses` (default: not yet accepted); or None."""
    return WorkItem.objects.filter(
        tenant_id=tenant_id, reference=reference, is_transfer=True, status__in=statuses
    ).first()


def offered_work(*, work_item: WorkItem) -> AgentWork | None:
    """The work item's active offer, if any."""
    return work_item.works.filter(status=WorkStatus.OFFERED).first()


def work_item_ids(*, tenant: Tenant, references: list[str]) -> list:
    """The ids of these references' work items (e.g. to redact the events that name them)."""
    return list(WorkItem.objects.filter(tenant=tenant, reference__in=references).values_list("pk", flat=True))


def queues_waiting(*, tenant: Tenant, now=None) -> list[dict]:
    """Every queue of the tenant (and "no queue", when work waits there) with the work items waiting
    for an agent (queued or offered, not yet accepted), the oldest one's wait in seconds since it
    entered routing, and the queue's member ids (none: any agent). Three queries."""
    now = now or timezone.now()
    waiting = {
        row["queue_id"]: row
        for row in WorkItem.objects.filter(tenant=tenant, status__in=[WorkItemStatus.QUEUED, WorkItemStatus.OFFERED])
        .values("queue_id")
        .annotate(n=Count("id"), oldest=Min("created_at"))
        .order_by()
    }
    members: dict = {}
    for queue_id, member_id in Queue.members.through.objects.filter(queue__tenant=tenant).values_list(
        "queue_id", "membership_id"
    ):
        members.setdefault(queue_id, []).append(str(member_id))
    rows = [(q.pk, q.name) for q in Queue.objects.filter(tenant=tenant).order_by("name")]
    if None in waiting:
        rows.append((None, None))
    out = []
    for queue_id, name in rows:
        row = waiting.get(queue_id) or {"n": 0, "oldest": None}
        out.append(
            {
                "queue_id": queue_id,
                "queue": name,
                "waiting": row["n"],
                "oldest_wait_seconds": max(0.0, (now - row["oldest"]).total_seconds()) if row["oldest"] else 0.0,
                "member_ids": members.get(queue_id, []),
            }
        )
    return out
