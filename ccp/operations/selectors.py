"""Reads of operations: the summary, agents and real-time reports (definitions in metrics.py)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from routing.choices import PresenceStatus
from routing.selectors import access_queue, agents_with_capacity, queues_waiting
from tenants.models import Membership, Tenant
from tenants.selectors import access_channel, session_membership_stands

from . import metrics, portable
from .errors import ReportsNeedPostgresql
from .models import RollupState
from .ranges import ReportRange, report_range


def report_range_for(*, tenant: Tenant, start: str | None, end: str | None, interval: str | None) -> ReportRange:
    return report_range(start=start, end=end, interval=interval, time_zone=tenant.time_zone, now=timezone.now())


def rollup_split(*, tenant: Tenant, bounds: list[datetime]) -> datetime | None:
    """Where a report switches from the rollup to the raw records: the tenant's `settled_until`
    (capped at the range's end), when the range starts before it and every boundary is a bucket
    boundary; None when the whole report reads the raw records."""
    settled = RollupState.objects.filter(tenant=tenant).values_list("settled_until", flat=True).first()
    if settled is None or settled <= bounds[0] or not all(metrics.bucket_aligned(b) for b in bounds):
        return None
    return min(settled, bounds[-1])


def reports_historical_check() -> None:
    """Raise ReportsNeedPostgresql (501) unless the database can run the historical reports."""
    if not portable.is_postgresql():
        raise ReportsNeedPostgresql()


def reports_historical_unavailable() -> str | None:
    """The sentence the reports page shows instead of its charts when the historical reports cannot
    run here (not PostgreSQL); None when they can."""
    return None if portable.is_postgresql() else ReportsNeedPostgresql.default_message


def report_summary(
    *, tenant: Tenant, range_: ReportRange, queue: str | None = None, channel: str | None = None
) -> dict:
    """One row per interval of the range and a total, with every metric of metrics.METRICS.

    `queue` is a queue name (404 queue_not_found), `channel` a channel address id of the tenant
    (404 unknown_channel). Three queries plus the lookups. PostgreSQL only (501 reports_need_postgresql)."""
    reports_historical_check()
    queue_obj = access_queue(tenant=tenant, name=queue) if queue else None
    channel_obj = access_channel(tenant=tenant, channel_address_id=channel) if channel else None
    bounds = list(range_.bounds)
    filters = {
        "queue_id": queue_obj.pk if queue_obj else None,
        "channel_address_id": channel_obj.channel_address_id if channel_obj else None,
    }
    split = rollup_split(tenant=tenant, bounds=bounds)
    now = timezone.now()
    raw = split is None or split < bounds[-1]  # the rollup may cover the whole range
    items = metrics.work_item_rows(tenant_id=tenant.pk, bounds=bounds, since=split, **filters) if raw else {}
    convs = metrics.conversation_rows(tenant_id=tenant.pk, bounds=bounds, since=split, **filters) if raw else {}
    occupancy = metrics.occupancy_rows(tenant_id=tenant.pk, bounds=bounds, now=now, since=split) if raw else {}
    sla = metrics.sla_rows(tenant_id=tenant.pk, bounds=bounds, now=now, **filters)
    if split is not None:
        rolled = metrics.rolled_work_rows(tenant_id=tenant.pk, bounds=bounds, until=split, **filters)
        items = convs = metrics.added(rolled, items, convs)
        occupancy = metrics.added(
            metrics.rolled_agent_rows(tenant_id=tenant.pk, bounds=bounds, until=split, by_agent=False), occupancy
        )

    def row(key) -> dict:
        return {
            **metrics.work_item_metrics(items.get(key)),
            **metrics.conversation_metrics(convs.get(key)),
            "occupancy": metrics.occupancy_metric(occupancy.get(key)),
            "sla_met": metrics.sla_metric(sla.get(key)),
        }

    rows = [
        {"start": start, "end": end, **row(index)} for index, (start, end) in enumerate(range_.intervals(), start=1)
    ]
    return {
        "from": range_.start,
        "to": range_.end,
        "interval": range_.interval,
        "time_zone": range_.zone.key,
        "queue": queue_obj.name if queue_obj else None,
        "channel": channel_obj.channel_address_id if channel_obj else None,
        "rows": rows,
        "total": row(None),
    }


def report_agents(*, tenant: Tenant, range_: ReportRange) -> dict:
    """Per agent (agents and supervisors of the tenant, and anyone else who handled work in the range;
    never a bot): handled, AHT, ACW, occupancy and seconds online, busy and away. Three queries.
    PostgreSQL only (501 reports_need_postgresql)."""
    reports_historical_check()
    bounds = list(range_.bounds)
    split = rollup_split(tenant=tenant, bounds=bounds)
    raw = split is None or split < bounds[-1]
    work = metrics.agent_work_rows(tenant_id=tenant.pk, bounds=bounds, since=split) if raw else {}
    time_ = (
        metrics.occupancy_rows(tenant_id=tenant.pk, bounds=bounds, now=timezone.now(), by_agent=True, since=split)
        if raw
        else {}
    )
    if split is not None:
        rolled = metrics.rolled_agent_rows(tenant_id=tenant.pk, bounds=bounds, until=split, by_agent=True)
        work = metrics.added(
            {k: {n: v[n] for n in ("handled", "handle_sum", "acw_sum")} for k, v in rolled.items()}, work
        )
        time_ = metrics.added({k: {n: v[n] for n in metrics.AGENT_ROLLUP_SUMS[3:]} for k, v in rolled.items()}, time_)
    members = (
        Membership.objects.filter(tenant=tenant)
        .filter(role__in=["agent", "supervisor"])
        .union(Membership.objects.filter(tenant=tenant, pk__in=list(work) + list(time_)))
    )
    people = sorted(
        Membership.objects.filter(pk__in=[m.pk for m in members]).select_related("user"),
        key=lambda m: (m.name.lower(), str(m.pk)),
    )
    rows = []
    for member in people:
        done = work.get(member.pk, {})
        handled = int(done.get("handled") or 0)
        spent = time_.get(member.pk, {})
        rows.append(
            {
                "agent_id": str(member.pk),
                "name": member.name,
                "username": member.user.get_username(),
                "handled": handled,
                "aht_seconds": metrics._mean(done.get("handle_sum", 0) + done.get("acw_sum", 0), handled),
                "acw_seconds": metrics._mean(done.get("acw_sum", 0), handled),
                "occupancy": metrics.occupancy_metric(spent),
                "online_seconds": spent.get("online_seconds", 0.0),
                "busy_seconds": spent.get("busy_seconds", 0.0),
                "away_seconds": spent.get("away_seconds", 0.0),
            }
        )
    return {"from": range_.start, "to": range_.end, "time_zone": range_.zone.key, "agents": rows}


def report_realtime(*, tenant: Tenant, now: datetime | None = None) -> dict:
    """Now: per queue the waiting work, the oldest wait, its agents online / available and today's
    service level; per agent status and load; tenant-wide agent counts."""
    now = now or timezone.now()
    agents = agents_with_capacity(tenant=tenant)
    by_id = {a["id"]: a for a in agents}
    for agent in agents:
        agent["available"] = agent["status"] == PresenceStatus.ONLINE and any(
            c["used"] < c["max"] for c in agent["capacity"].values()
        )
        agent["load"] = agent.pop("capacity")
    today = report_range(start=None, end=None, interval="day", time_zone=tenant.time_zone, now=now)
    # PostgreSQL: the reports' aggregate; elsewhere (the embedded SQLite) the same sums in Python
    rows = metrics.work_item_rows if portable.is_postgresql() else portable.work_item_rows
    levels = rows(tenant_id=tenant.pk, bounds=list(today.bounds), group_by_queue=True)
    overall = rows(tenant_id=tenant.pk, bounds=list(today.bounds))
    queues = []
    for queue in queues_waiting(tenant=tenant, now=now):
        members = [by_id[m] for m in queue.pop("member_ids") if m in by_id] or agents
        queues.append(
            {
                **queue,
                "queue_id": str(queue["queue_id"]) if queue["queue_id"] else None,
                "agents_online": sum(a["status"] in (PresenceStatus.ONLINE, PresenceStatus.BUSY) for a in members),
                "agents_available": sum(a["available"] for a in members),
                "agents_busy": sum(a["status"] == PresenceStatus.BUSY for a in members),
                "agents_away": sum(a["status"] == PresenceStatus.AWAY for a in members),
                "service_level_today": metrics.work_item_metrics(levels.get((1, queue["queue_id"])))["service_level"],
            }
        )
    counts = {s: sum(a["status"] == s for a in agents) for s in PresenceStatus.values}
    return {
        "generated_at": now,
        "queues": queues,
        "agents": [{k: a[k] for k in ("id", "name", "status", "status_since", "available", "load")} for a in agents],
        "totals": {
            "waiting": sum(q["waiting"] for q in queues),
            "agents_online": counts["online"] + counts["busy"],
            "agents_available": sum(a["available"] for a in agents),
            "agents_busy": counts["busy"],
            "agents_away": counts["away"],
            "agents_offline": counts["offline"],
            "service_level_today": metrics.work_item_metrics(overall.get(None))["service_level"],
        },
    }


def supervisor_socket_stands(*, session_key: str | None, membership_id) -> bool:
    """Whether a live view's socket may go on: its session and membership stand, and the member is
    still a supervisor or admin of an active tenant."""
    if not session_membership_stands(session_key=session_key, membership_id=membership_id):
        return False
    return Membership.objects.filter(
        pk=membership_id, role__in=["supervisor", "admin"], tenant__is_active=True
    ).exists()
