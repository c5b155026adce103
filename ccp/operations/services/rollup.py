"""The rollup of settled work: the historical reports' sums per 15 minutes, written once a bucket
can no longer change, so a month's summary reads thousands of rows, not millions.

A bucket is settled when it is older than FCR_WINDOW_HOURS + ROLLUP_MIN_AGE_HOURS and every work item
and conversation that entered in it is final: work items done or cancelled with all accepted work
ended (ACW included), conversations closed at least FCR_WINDOW_HOURS ago. Presence and work time
overlapping a past bucket is final by then. `operations_rollup` advances a tenant's `settled_until`
bucket by bucket up to the first unsettled one (a conversation still open holds it there; the
reports then read the raw records from that point, correct but slower). The sums are the very
aggregates of metrics.py (`work_items_sql`, `conversations_sql`, `presence_sql`, `AGENT_WORK_SQL`)
grouped by bucket instead of by report interval, so a report from the rollup equals one from the raw
records (tests/operations/test_rollup.py). Runs from Celery beat (`operations_rollup_task`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from tenants.models import Tenant

from .. import metrics, portable
from ..models import RollupState

STEP = timedelta(minutes=metrics.BUCKET_MINUTES)


def _floor(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % metrics.BUCKET_MINUTES, second=0, microsecond=0)


def _scalar(sql: str, params: dict):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def _earliest(tenant_id) -> datetime | None:
    return _scalar(
        """SELECT least((SELECT min(created_at) FROM routing_workitem WHERE tenant_id = %(t)s),
                        (SELECT min(created_at) FROM conversations_conversation WHERE tenant_id = %(t)s),
                        (SELECT min(started_at) FROM routing_agentstatusspan WHERE tenant_id = %(t)s))""",
        {"t": tenant_id},
    )


def _first_unsettled(tenant_id, since: datetime, until: datetime, now: datetime) -> datetime | None:
    return _scalar(
        """SELECT least(
            (SELECT min(i.created_at) FROM routing_workitem i
             WHERE i.tenant_id = %(t)s AND i.created_at >= %(since)s AND i.created_at < %(until)s
               AND (i.status IN ('queued', 'offered', 'assigned') OR EXISTS (
                    SELECT 1 FROM routing_agentwork a WHERE a.work_item_id = i.id
                    AND a.status = ANY(%(accepted)s) AND a.ended_at IS NULL))),
            (SELECT min(c.created_at) FROM conversations_conversation c
             WHERE c.tenant_id = %(t)s AND c.created_at >= %(since)s AND c.created_at < %(until)s
               AND (c.status <> 'closed' OR c.closed_at > %(fcr_final)s)))""",
        {
            "t": tenant_id,
            "since": since,
            "until": until,
            "accepted": list(metrics.ACCEPTED),
            "fcr_final": now - timedelta(hours=settings.FCR_WINDOW_HOURS),
        },
    )


def _write(tenant_id, since: datetime, until: datetime, now: datetime) -> None:
    item_cols = ", ".join(metrics.ITEM_SUMS)
    conv_cols = ", ".join(metrics.CONVERSATION_SUMS)
    bounds = [since, until]
    items = metrics.work_items_sql(keys="i.bucket, i.queue_id, i.channel", group="i.bucket, i.queue_id, i.channel")
    convs = metrics.conversations_sql(keys="c.bucket, c.queue_id, c.channel", group="c.bucket, c.queue_id, c.channel")
    agent_work = metrics.AGENT_WORK_SQL.format(
        keys=f"{metrics.BUCKET.format('i.created_at')} AS bucket, a.agent_id",
        group=f"{metrics.BUCKET.format('i.created_at')}, a.agent_id",
    )
    presence = metrics.presence_sql(
        window="bucket.r",
        keys="bucket.bucket, a.agent_id",
        source="""CROSS JOIN (
            SELECT g AS bucket, tstzmultirange(tstzrange(g, g + interval '15 minutes')) AS r
            FROM generate_series(%(since)s::timestamptz, %(end)s::timestamptz - interval '15 minutes',
                                 interval '15 minutes') AS g) bucket""",
        group="bucket.bucket, a.agent_id",
    )
    presence_cols = "serving_seconds, working_seconds, online_seconds, busy_seconds, away_seconds"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO operations_workrollup (tenant_id, bucket, queue_id, channel_address_id, {item_cols})
                SELECT %(tenant_id)s, x.* FROM ({items}) x""",
            metrics.item_params(tenant_id=tenant_id, bounds=bounds),
        )
        cursor.execute(
            f"""INSERT INTO operations_workrollup (tenant_id, bucket, queue_id, channel_address_id, {conv_cols})
                SELECT %(tenant_id)s, x.* FROM ({convs}) x
                ON CONFLICT ON CONSTRAINT uniq_work_rollup_bucket DO UPDATE SET
                {", ".join(f"{c} = EXCLUDED.{c}" for c in metrics.CONVERSATION_SUMS)}""",
            {
                "tenant_id": tenant_id,
                "bounds": bounds,
                "since": since,
                "end": until,
                "window": settings.FCR_WINDOW_HOURS,
            },
        )
        cursor.execute(
            f"""INSERT INTO operations_agentrollup (tenant_id, bucket, agent_id, handled, handle_sum, acw_sum)
                SELECT %(tenant_id)s, x.* FROM ({agent_work}) x""",
            {"tenant_id": tenant_id, "since": since, "end": until},
        )
        cursor.execute(
            f"""INSERT INTO operations_agentrollup (tenant_id, bucket, agent_id, {presence_cols})
                SELECT %(tenant_id)s, x.* FROM ({presence}) x
                WHERE x.serving_seconds > 0 OR x.online_seconds > 0 OR x.busy_seconds > 0 OR x.away_seconds > 0
                ON CONFLICT ON CONSTRAINT uniq_agent_rollup_bucket DO UPDATE SET
                {", ".join(f"{c} = EXCLUDED.{c}" for c in presence_cols.split(", "))}""",
            metrics.presence_params(tenant_id=tenant_id, since=since, end=until, now=now),
        )


@transaction.atomic
def operations_rollup(*, tenant: Tenant, now: datetime | None = None, max_days: int | None = None) -> datetime | None:
    """Roll up the tenant's settled buckets (at most `max_days` of them per call, default
    ROLLUP_CHUNK_DAYS); returns the new `settled_until` (None: nothing to roll up yet). The state row
    is locked, so two sweeps never roll up a bucket twice."""
    now = now or timezone.now()
    RollupState.objects.get_or_create(tenant=tenant)
    state = RollupState.objects.select_for_update().get(tenant=tenant)
    horizon = _floor(now - timedelta(hours=settings.FCR_WINDOW_HOURS + settings.ROLLUP_MIN_AGE_HOURS))
    start = state.settled_until
    if start is None:
        earliest = _earliest(tenant.pk)
        if earliest is None:
            return None
        start = _floor(earliest)
    target = min(horizon, start + timedelta(days=max_days or settings.ROLLUP_CHUNK_DAYS))
    if target <= start:
        return state.settled_until
    blocker = _first_unsettled(tenant.pk, start, target, now)
    if blocker is not None:
        target = _floor(blocker)
    if target > start:
        _write(tenant.pk, start, target, now)
        state.settled_until = target
        state.save(update_fields=["settled_until", "updated_at"])
    return state.settled_until


def operations_rollup_all(*, now: datetime | None = None) -> int:
    """One rollup step for every active tenant (the beat job); returns how many advanced. Nothing on
    a database other than PostgreSQL (the embedded SQLite): the rollup only serves the historical
    reports, which need PostgreSQL (errors.ReportsNeedPostgresql)."""
    advanced = 0
    if not portable.is_postgresql():
        return advanced
    for tenant in Tenant.objects.filter(is_active=True):
        before = RollupState.objects.filter(tenant=tenant).values_list("settled_until", flat=True).first()
        if operations_rollup(tenant=tenant, now=now) != before:
            advanced += 1
    return advanced
