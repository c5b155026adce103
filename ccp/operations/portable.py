"""The work-item sums of metrics.py for databases other than PostgreSQL (the embedded SQLite default).

metrics.work_items_sql is PostgreSQL (timestamptz arrays, width_bucket, LATERAL, FILTER): this module
computes the same sums — offered, answered, abandoned, short_abandoned, wait_sum, in_sl, handled,
handle_sum, acw_sum, transfers — with two plain ORM reads and Python, by the very rules written in
metrics.DEFINITIONS, so the real-time report (today's service level) works on every engine. It reads
every work item of the range, which is fine for today's on a small embedded deployment; the
historical reports stay PostgreSQL-only (errors.ReportsNeedPostgresql).
tests/operations/test_portable.py checks it equals the PostgreSQL aggregate on the same records.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime

from django.conf import settings
from django.db import connection

from routing.models import AgentWork, WorkItem

from . import metrics


def is_postgresql() -> bool:
    """Whether the historical reports and the rollup (PostgreSQL SQL) can run on this database."""
    return connection.vendor == "postgresql"


def _outbound(value) -> bool:
    # metrics: coalesce(i.attributes->>'outbound', '') <> 'true' — JSON true and the string "true"
    return value is True or value == "true"


def _seconds(later, earlier) -> float | None:
    return (later - earlier).total_seconds() if later is not None and earlier is not None else None


def work_item_rows(*, tenant_id, bounds: list[datetime], group_by_queue: bool = False) -> dict:
    """metrics.work_item_rows (no queue or channel filter, from the range's start): per interval
    (1-based) and None (the total), or per (interval, queue id) with `group_by_queue`. Two queries."""
    start, end = bounds[0], bounds[-1]
    items = list(
        WorkItem.objects.filter(tenant_id=tenant_id, created_at__gte=start, created_at__lt=end)
        .values(
            "id",
            "created_at",
            "done_at",
            "status",
            "is_transfer",
            "queue_id",
            "attributes",
            "queue__service_level_seconds",
        )
        .order_by()
    )
    accepted: dict = {}
    for work in (
        AgentWork.objects.filter(
            work_item__tenant_id=tenant_id,
            work_item__created_at__gte=start,
            work_item__created_at__lt=end,
            status__in=metrics.ACCEPTED,
        )
        .values("work_item_id", "status", "answered_at", "closed_at", "ended_at")
        .order_by()
    ):
        # the item's accepted work: the first answered (ORDER BY answered_at LIMIT 1, nulls last)
        held = accepted.get(work["work_item_id"])
        if held is None or (
            work["answered_at"] is not None
            and (held["answered_at"] is None or work["answered_at"] < held["answered_at"])
        ):
            accepted[work["work_item_id"]] = work
    out: dict = {}
    for item in items:
        attributes = item["attributes"] if isinstance(item["attributes"], dict) else {}
        if _outbound(attributes.get("outbound")):
            continue
        b = bisect_right(bounds, item["created_at"])
        keys = [(b, item["queue_id"])] if group_by_queue else [b, None]
        work = accepted.get(item["id"])
        sl = item["queue__service_level_seconds"]
        sl = settings.SERVICE_LEVEL_SECONDS if sl is None else sl
        abandoned = item["status"] == "canceled" and work is None and not item["is_transfer"]
        lasted = _seconds(item["done_at"], item["created_at"])
        wait = _seconds(work["answered_at"], item["created_at"]) if work else None
        handled = work is not None and work["status"] == "closed" and work["ended_at"] is not None
        handle = _seconds(work["closed_at"], work["answered_at"]) if handled else None
        acw = _seconds(work["ended_at"], work["closed_at"]) if handled else None
        for key in keys:
            row = out.setdefault(key, dict.fromkeys(metrics.ITEM_SUMS, 0))
            row["offered"] += 1
            row["answered"] += work is not None
            row["abandoned"] += abandoned
            row["short_abandoned"] += abandoned and lasted is not None and lasted <= settings.SHORT_ABANDON_SECONDS
            row["wait_sum"] += wait or 0
            row["in_sl"] += wait is not None and wait <= sl
            row["handled"] += handled
            row["handle_sum"] += handle or 0
            row["acw_sum"] += acw or 0
            row["transfers"] += bool(item["is_transfer"])
    return out
