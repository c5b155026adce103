"""The operational metrics of ccp, defined once: the sentences (docs/reports.md carries the same
words), and the PostgreSQL that computes them from routing's and conversations' records.

Every number is an aggregate over rows the platform already writes — routing's WorkItem (a routable
unit: a messaging session, a call…) and AgentWork (its offers and assignments), routing's
AgentStatusSpan (presence history), conversations' Conversation and Message — so anyone can recompute
it. Work items of every kind count by the same rules: a voice call's work item is offered, answered
or abandoned exactly like a messaging session's. Bots are never agents: a bot holds no AgentWork and
its messages are `sender_type = bot`, so they count in no agent metric.

Attribution: everything about a work item (offered, answered, abandoned, ASA, service level, handle
and after-conversation work, transfers) counts in the interval in which the work item entered routing,
and everything about a conversation (first response, FCR) in the interval in which the conversation
was created. So a row's ratios are internally consistent, the total row is the sum of the rows, and
the agents report adds up to the summary's total. Occupancy and presence time are time, not events:
they count the part of each interval they overlap.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import connection

# name → definition; the API's schema, docs/reports.md and the CSV header use these names and words.
DEFINITIONS: dict[str, str] = {
    "offered": "Work items that entered routing in the interval (a transfer creates a new work item and "
    "is offered again); agent-initiated outbound work is not offered.",
    "answered": "Offered work items an agent accepted (at any time after they entered routing).",
    "abandoned": "Offered work items that ended — the end user or partner closed the conversation, or "
    "the call ended — before any agent accepted them. A transfer that ends unaccepted is not an "
    "abandon: an agent still held the conversation.",
    "short_abandoned": "Abandoned work items that ended within SHORT_ABANDON_SECONDS (default 5) of "
    "entering routing (ended − entered ≤ the threshold).",
    "asa_seconds": "Average speed of answer: mean of (accepted − entered routing) over answered work "
    "items, in seconds; empty when none was answered.",
    "service_level": "Answered within the queue's service-level threshold (Queue.service_level_seconds, "
    "default SERVICE_LEVEL_SECONDS = 20; accepted − entered ≤ threshold) ÷ (offered − short_abandoned), "
    "a ratio from 0 to 1; empty when the divisor is 0.",
    "aht_seconds": "Average handle time: mean of (closed − accepted) + after-conversation work over "
    "handled work (accepted work whose conversation work and ACW have ended), in seconds. A transfer "
    "ends the first agent's work when the second accepts.",
    "acw_seconds": "Mean after-conversation work (ACW ended − conversation work closed, extensions "
    "included; 0 when there was none) over handled work, in seconds; aht = mean handle + acw.",
    "first_response_seconds": "Messaging: mean of (the first agent-sent message after the first "
    "inbound message − that first inbound message) over conversations created in the interval that "
    "have both, in seconds. Bot and system messages are not responses.",
    "transfers": "Work items created by a transfer (to an agent or a queue) in the interval.",
    "occupancy": "Time agents held at least one accepted or ACW work item while online or busy ÷ time "
    "they were online or busy (not away, not offline), in the interval; time away with work open "
    "counts in neither. A ratio from 0 to 1; empty when nobody was online.",
    "fcr": "First-contact resolution: closed conversations created in the interval with no new "
    "conversation from the same contact on the same channel within FCR_WINDOW_HOURS (default 24) "
    "after closing ÷ closed conversations created in the interval; empty when none closed. "
    "Provisional until the window has passed.",
    "sla_met": "Share of conversations created in the interval whose SLA clocks (first response, next "
    "response, resolution, in business time) all stopped at or before their due time, of the "
    "conversations with at least one clock whose clocks have all settled (stopped, or running past "
    "due: breached); empty when no such conversation.",
}
METRICS = tuple(DEFINITIONS)
AGENT_FIELDS = (
    "handled",
    "aht_seconds",
    "acw_seconds",
    "occupancy",
    "online_seconds",
    "busy_seconds",
    "away_seconds",
)

ACCEPTED = ("accepted", "acw", "closed")  # AgentWork statuses of accepted work
SERVING = ("online", "busy")  # presence statuses that count as available time for occupancy


def _ratio(numerator, denominator) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def _mean(total, count) -> float | None:
    return float(total) / count if count else None


def _item_filters(queue_id, channel_address_id) -> tuple[str, dict]:
    sql, params = "", {}
    if queue_id is not None:
        sql += " AND i.queue_id = %(queue_id)s"
        params["queue_id"] = queue_id
    if channel_address_id is not None:
        sql += " AND i.attributes->>'channel_address_id' = %(channel_address_id)s"
        params["channel_address_id"] = channel_address_id
    return sql, params


# The rollup's bucket (ccp/operations/rollup.py): 15 minutes, so that every zone's local hours and days
# (offsets in whole quarters of an hour) are unions of buckets.
BUCKET = "date_bin('15 minutes', {}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
ITEM_SUMS = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "wait_sum",
    "in_sl",
    "handled",
    "handle_sum",
    "acw_sum",
    "transfers",
)
CONVERSATION_SUMS = ("responded", "response_sum", "closed", "resolved")


def work_items_sql(*, keys: str, group: str, filters: str = "") -> str:
    """The one aggregate of work items (every item metric's numerator and divisor), grouped by
    `group` over the items CTE's columns `b` (the report interval), `bucket` (the rollup's),
    `queue_id` and `channel`. Parameters: tenant_id, bounds, since, end, sl, short, accepted."""
    return f"""
        WITH items AS (
            SELECT i.id, i.created_at, i.done_at, i.status, i.is_transfer, i.queue_id,
                   coalesce(i.attributes->>'channel_address_id', '') AS channel,
                   coalesce(q.service_level_seconds, %(sl)s) AS sl,
                   width_bucket(i.created_at, %(bounds)s::timestamptz[]) AS b,
                   {BUCKET.format("i.created_at")} AS bucket
            FROM routing_workitem i LEFT JOIN routing_queue q ON q.id = i.queue_id
            WHERE i.tenant_id = %(tenant_id)s AND i.created_at >= %(since)s AND i.created_at < %(end)s
              AND coalesce(i.attributes->>'outbound', '') <> 'true' {filters}
        )
        SELECT {keys},
            count(*) AS offered,
            count(a.work_item_id) AS answered,
            count(*) FILTER (WHERE i.status = 'canceled' AND a.work_item_id IS NULL AND NOT i.is_transfer)
                AS abandoned,
            count(*) FILTER (WHERE i.status = 'canceled' AND a.work_item_id IS NULL AND NOT i.is_transfer
                AND i.done_at - i.created_at <= make_interval(secs => %(short)s)) AS short_abandoned,
            coalesce(sum(extract(epoch FROM a.answered_at - i.created_at)), 0) AS wait_sum,
            count(*) FILTER (WHERE a.answered_at - i.created_at <= make_interval(secs => i.sl)) AS in_sl,
            count(*) FILTER (WHERE a.status = 'closed' AND a.ended_at IS NOT NULL) AS handled,
            coalesce(sum(extract(epoch FROM a.closed_at - a.answered_at))
                FILTER (WHERE a.status = 'closed' AND a.ended_at IS NOT NULL), 0) AS handle_sum,
            coalesce(sum(extract(epoch FROM a.ended_at - a.closed_at))
                FILTER (WHERE a.status = 'closed' AND a.ended_at IS NOT NULL), 0) AS acw_sum,
            count(*) FILTER (WHERE i.is_transfer) AS transfers
        FROM items i
        LEFT JOIN LATERAL (
            -- the item's accepted work (at most one: an item is offered again only until accepted)
            SELECT w.work_item_id, w.status, w.answered_at, w.closed_at, w.ended_at FROM routing_agentwork w
            WHERE w.work_item_id = i.id AND w.status = ANY(%(accepted)s)
            ORDER BY w.answered_at LIMIT 1) a ON true
        GROUP BY {group}
    """


def item_params(*, tenant_id, bounds, since=None) -> dict:
    return {
        "tenant_id": tenant_id,
        "bounds": list(bounds),
        "since": since or bounds[0],
        "end": bounds[-1],
        "sl": settings.SERVICE_LEVEL_SECONDS,
        "short": settings.SHORT_ABANDON_SECONDS,
        "accepted": list(ACCEPTED),
    }


def _fetch(sql: str, params: dict) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [c.name for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def work_item_rows(
    *,
    tenant_id,
    bounds: list[datetime],
    queue_id=None,
    channel_address_id=None,
    group_by_queue: bool = False,
    since: datetime | None = None,
) -> dict:
    """Per interval (1-based index into `bounds`) and None (the total): the work-item sums of the
    items that entered routing from `since` (default: the range's start) to the range's end. One
    query. With `group_by_queue`, keys are (interval, queue id) instead."""
    filters, params = _item_filters(queue_id, channel_address_id)
    params.update(item_params(tenant_id=tenant_id, bounds=bounds, since=since))
    if group_by_queue:
        sql = work_items_sql(keys="b, i.queue_id", group="b, i.queue_id", filters=filters)
        return {(r.pop("b"), r.pop("queue_id")): r for r in _fetch(sql, params)}
    sql = work_items_sql(keys="b", group="ROLLUP (b)", filters=filters)
    return {r.pop("b"): r for r in _fetch(sql, params)}


def work_item_metrics(raw: dict | None) -> dict:
    """The finished metrics of one row of `work_item_rows` (or of none: zeros and empties)."""
    raw = raw or {}
    offered = int(raw.get("offered") or 0)
    answered = int(raw.get("answered") or 0)
    short = int(raw.get("short_abandoned") or 0)
    handled = int(raw.get("handled") or 0)
    handle_sum = float(raw.get("handle_sum") or 0)
    acw_sum = float(raw.get("acw_sum") or 0)
    return {
        "offered": offered,
        "answered": answered,
        "abandoned": int(raw.get("abandoned") or 0),
        "short_abandoned": short,
        "asa_seconds": _mean(raw.get("wait_sum") or 0, answered),
        "service_level": _ratio(raw.get("in_sl") or 0, offered - short),
        "handled": handled,
        "aht_seconds": _mean(handle_sum + acw_sum, handled),
        "acw_seconds": _mean(acw_sum, handled),
        "transfers": int(raw.get("transfers") or 0),
    }


def conversations_sql(*, keys: str, group: str, filters: str = "") -> str:
    """The one aggregate of conversations (first response, FCR), grouped by `group` over the convs
    CTE's `b`, `bucket`, `queue_id` (the queue of the conversation's first work item: where it was
    first routed) and `channel`. Parameters: tenant_id, bounds, since, end, window."""
    return f"""
        WITH convs AS (
            SELECT c.id, c.tenant_id, c.contact_id, c.channel_id, c.status, c.closed_at, c.created_at,
                   c.channel_address_id AS channel,
                   width_bucket(c.created_at, %(bounds)s::timestamptz[]) AS b,
                   {BUCKET.format("c.created_at")} AS bucket
            FROM conversations_conversation c
            WHERE c.tenant_id = %(tenant_id)s AND c.created_at >= %(since)s AND c.created_at < %(end)s
        ),
        routed AS (
            SELECT DISTINCT ON (i.attributes->>'conversation_id') i.attributes->>'conversation_id' AS conversation_id,
                   i.queue_id
            FROM routing_workitem i
            WHERE i.tenant_id = %(tenant_id)s AND i.created_at >= %(since)s AND NOT i.is_transfer
              AND i.attributes ? 'conversation_id'
            ORDER BY i.attributes->>'conversation_id', i.created_at
        ),
        c AS (
            SELECT convs.*, routed.queue_id, f.first_in, (
                SELECT min(m.created_at) FROM conversations_message m
                WHERE m.conversation_id = convs.id AND m.sender_type = 'agent' AND m.direction = 'outbound'
                  AND m.agent_id IS NOT NULL AND m.created_at >= f.first_in) - f.first_in AS first_response
            FROM convs
            LEFT JOIN routed ON routed.conversation_id = convs.id::text
            LEFT JOIN LATERAL (
                SELECT min(m.created_at) AS first_in FROM conversations_message m
                WHERE m.conversation_id = convs.id AND m.direction = 'inbound') f ON true
        )
        SELECT {keys},
            count(c.first_response) AS responded,
            coalesce(sum(extract(epoch FROM c.first_response)), 0) AS response_sum,
            count(*) FILTER (WHERE c.status = 'closed') AS closed,
            count(*) FILTER (WHERE c.status = 'closed' AND NOT EXISTS (
                SELECT 1 FROM conversations_conversation n
                WHERE n.contact_id = c.contact_id AND n.tenant_id = c.tenant_id
                  AND n.channel_id IS NOT DISTINCT FROM c.channel_id AND n.id <> c.id
                  AND n.created_at > c.closed_at
                  AND n.created_at <= c.closed_at + make_interval(hours => %(window)s))) AS resolved
        FROM c
        WHERE true {filters}
        GROUP BY {group}
    """


def conversation_rows(
    *, tenant_id, bounds: list[datetime], queue_id=None, channel_address_id=None, since: datetime | None = None
) -> dict:
    """Per interval and None (the total): first response and FCR sums of the conversations created
    from `since` (default: the range's start) to the range's end. One query. The queue filter keeps
    conversations first routed to the queue; the channel filter, conversations of the channel."""
    params: dict = {
        "tenant_id": tenant_id,
        "bounds": list(bounds),
        "since": since or bounds[0],
        "end": bounds[-1],
        "window": settings.FCR_WINDOW_HOURS,
    }
    filters = ""
    if channel_address_id is not None:
        filters += " AND c.channel = %(channel_address_id)s"
        params["channel_address_id"] = channel_address_id
    if queue_id is not None:
        filters += " AND c.queue_id = %(queue_id)s"
        params["queue_id"] = queue_id
    sql = conversations_sql(keys="c.b", group="ROLLUP (c.b)", filters=filters)
    return {r.pop("b"): r for r in _fetch(sql, params)}


def conversation_metrics(raw: dict | None) -> dict:
    raw = raw or {}
    return {
        "first_response_seconds": _mean(raw.get("response_sum") or 0, int(raw.get("responded") or 0)),
        "fcr": _ratio(raw.get("resolved") or 0, int(raw.get("closed") or 0)),
    }


SLA_SQL = """
    WITH k AS (
        -- clocks start at or after their conversation opened: the range's clocks are found by index
        SELECT k.conversation_id,
               bool_and(coalesce(k.stopped_at IS NOT NULL OR k.due_at <= %(now)s, false)) AS settled,
               bool_and(k.stopped_at IS NOT NULL AND (k.due_at IS NULL OR k.stopped_at <= k.due_at)) AS met
        FROM conversations_slaclock k
        WHERE k.tenant_id = %(tenant_id)s AND k.started_at >= %(start)s
        GROUP BY k.conversation_id
    ){routed}
    SELECT width_bucket(c.created_at, %(bounds)s::timestamptz[]) AS b,
        count(*) AS sla_counted,
        count(*) FILTER (WHERE k.met) AS sla_met
    FROM k JOIN conversations_conversation c ON c.id = k.conversation_id {routed_join}
    WHERE c.created_at >= %(start)s AND c.created_at < %(end)s AND k.settled {filters}
    GROUP BY ROLLUP (1)
"""
SLA_ROUTED = """,
    routed AS (
        SELECT DISTINCT ON (i.attributes->>'conversation_id') i.attributes->>'conversation_id' AS conversation_id,
               i.queue_id
        FROM routing_workitem i
        WHERE i.tenant_id = %(tenant_id)s AND i.created_at >= %(start)s AND NOT i.is_transfer
          AND i.attributes ? 'conversation_id'
        ORDER BY i.attributes->>'conversation_id', i.created_at
    )"""


def sla_rows(*, tenant_id, bounds: list[datetime], now: datetime, queue_id=None, channel_address_id=None) -> dict:
    """Per interval and None (the total): conversations created in it whose SLA clocks have all
    settled (`sla_counted`) and of those the ones whose clocks all stopped in time (`sla_met`). Always
    from the clocks themselves (not the rollup: a clock may settle long after its bucket is rolled
    up). The queue filter keeps conversations first routed to the queue, like `conversation_rows`.
    One query, driven by the clocks' (tenant, started_at) index."""
    params: dict = {"tenant_id": tenant_id, "bounds": list(bounds), "start": bounds[0], "end": bounds[-1], "now": now}
    filters, routed, routed_join = "", "", ""
    if channel_address_id is not None:
        filters += " AND c.channel_address_id = %(channel_address_id)s"
        params["channel_address_id"] = channel_address_id
    if queue_id is not None:
        routed, routed_join = SLA_ROUTED, "JOIN routed ON routed.conversation_id = c.id::text"
        filters += " AND routed.queue_id = %(queue_id)s"
        params["queue_id"] = queue_id
    sql = SLA_SQL.format(routed=routed, routed_join=routed_join, filters=filters)
    return {r.pop("b"): r for r in _fetch(sql, params)}


def sla_metric(raw: dict | None) -> float | None:
    raw = raw or {}
    return _ratio(raw.get("sla_met") or 0, int(raw.get("sla_counted") or 0))


PRESENCE_CTES = """
        spans AS (
            SELECT s.agent_id, s.status,
                   tstzrange(greatest(s.started_at, %(since)s), least(coalesce(s.ended_at, %(now)s), %(end)s)) AS r
            FROM routing_agentstatusspan s
            WHERE s.tenant_id = %(tenant_id)s AND s.started_at < %(end)s
              AND coalesce(s.ended_at, %(now)s) > %(since)s AND s.started_at < %(now)s
        ),
        serving AS (
            SELECT agent_id, range_agg(r) AS m FROM spans WHERE status = ANY(%(serving)s) GROUP BY agent_id
        ),
        working AS (
            SELECT w.agent_id,
                   range_agg(tstzrange(w.answered_at, greatest(w.answered_at, coalesce(w.ended_at, %(now)s)))) AS m
            FROM routing_agentwork w
            WHERE w.tenant_id = %(tenant_id)s AND w.status = ANY(%(accepted)s) AND w.answered_at < %(end)s
              AND coalesce(w.ended_at, %(now)s) > %(since)s
            GROUP BY w.agent_id
        ),
        status_time AS (
            SELECT agent_id, status, range_agg(r) AS m FROM spans GROUP BY agent_id, status
        )
"""
SECONDS = "(SELECT coalesce(sum(extract(epoch FROM upper(x) - lower(x))), 0) FROM unnest({}) AS x)"
EMPTY = "'{}'::tstzmultirange"


def presence_sql(*, window: str, keys: str, source: str, group: str) -> str:
    """Per agent and window (a tstzmultirange expression over `source`): seconds online or busy
    (serving), of those the seconds holding accepted or ACW work (working), and seconds online, busy
    and away. Parameters: tenant_id, since, end, now, serving, accepted."""

    def status(name: str) -> str:
        inner = f"(SELECT m FROM status_time t WHERE t.agent_id = a.agent_id AND t.status = '{name}')"
        return SECONDS.format(f"coalesce({inner}, {EMPTY}) * {window}")

    return f"""
        WITH {PRESENCE_CTES}
        SELECT {keys},
            sum({SECONDS.format(f"coalesce(s.m, {EMPTY}) * {window}")}) AS serving_seconds,
            sum({SECONDS.format(f"coalesce(s.m, {EMPTY}) * coalesce(w.m, {EMPTY}) * {window}")}) AS working_seconds,
            sum({status("online")}) AS online_seconds,
            sum({status("busy")}) AS busy_seconds,
            sum({status("away")}) AS away_seconds
        FROM (SELECT agent_id FROM spans UNION SELECT agent_id FROM working) a
        LEFT JOIN serving s ON s.agent_id = a.agent_id
        LEFT JOIN working w ON w.agent_id = a.agent_id
        {source}
        GROUP BY {group}
    """


def presence_params(*, tenant_id, since, end, now) -> dict:
    return {
        "tenant_id": tenant_id,
        "since": since,
        "end": end,
        "now": now,
        "serving": list(SERVING),
        "accepted": list(ACCEPTED),
    }


def occupancy_rows(
    *, tenant_id, bounds: list[datetime], now: datetime, by_agent: bool = False, since: datetime | None = None
) -> dict:
    """Per interval and None (the total) — or per agent, over the whole range, with `by_agent` — the
    seconds agents spent online or busy, and of those the seconds they held accepted or ACW work, plus
    the seconds online, busy and away; counting only time from `since` (default: the range's start).
    One query over the presence history (multiranges)."""
    since = since or bounds[0]
    params = {**presence_params(tenant_id=tenant_id, since=since, end=bounds[-1], now=now), "bounds": list(bounds)}
    if by_agent:
        sql = presence_sql(
            window="tstzmultirange(tstzrange(%(since)s, %(end)s))", keys="a.agent_id", source="", group="a.agent_id"
        )
        key = "agent_id"
    else:
        source = """CROSS JOIN (
            SELECT k AS b, tstzmultirange(tstzrange((%(bounds)s::timestamptz[])[k], (%(bounds)s::timestamptz[])[k + 1]))
                * tstzmultirange(tstzrange(%(since)s, %(end)s)) AS r
            FROM generate_series(1, array_length(%(bounds)s::timestamptz[], 1) - 1) AS k) bucket"""
        sql = presence_sql(window="bucket.r", keys="bucket.b", source=source, group="ROLLUP (bucket.b)")
        key = "b"
    out = {}
    for row in _fetch(sql, params):
        k = row.pop(key)
        out[k] = {name: float(v or 0) for name, v in row.items()}
    return out


def occupancy_metric(raw: dict | None) -> float | None:
    raw = raw or {}
    return _ratio(raw.get("working_seconds") or 0, raw.get("serving_seconds") or 0)


AGENT_WORK_SQL = """
    SELECT {keys},
        count(*) AS handled,
        coalesce(sum(extract(epoch FROM a.closed_at - a.answered_at)), 0) AS handle_sum,
        coalesce(sum(extract(epoch FROM a.ended_at - a.closed_at)), 0) AS acw_sum
    FROM routing_agentwork a JOIN routing_workitem i ON i.id = a.work_item_id
    WHERE i.tenant_id = %(tenant_id)s AND i.created_at >= %(since)s AND i.created_at < %(end)s
      AND coalesce(i.attributes->>'outbound', '') <> 'true'
      AND a.status = 'closed' AND a.ended_at IS NOT NULL
    GROUP BY {group}
"""


def agent_work_rows(*, tenant_id, bounds: list[datetime], since: datetime | None = None) -> dict:
    """Per agent: handled work and its handle and ACW seconds, for work items that entered routing from
    `since` (default: the range's start) to its end (the summary's attribution, so the agents add up to
    its total). One query."""
    sql = AGENT_WORK_SQL.format(keys="a.agent_id", group="a.agent_id")
    params = {"tenant_id": tenant_id, "since": since or bounds[0], "end": bounds[-1]}
    return {r.pop("agent_id"): {k: float(v) for k, v in r.items()} for r in _fetch(sql, params)}


# --- the rollup (services/rollup.py writes it; these read it) ----------------------------------------
BUCKET_MINUTES = 15


def bucket_aligned(moment: datetime) -> bool:
    return moment.second == 0 and moment.microsecond == 0 and moment.minute % BUCKET_MINUTES == 0


def rolled_work_rows(*, tenant_id, bounds: list[datetime], until: datetime, queue_id=None, channel_address_id=None):
    """`work_item_rows` + `conversation_rows` of the range's part before `until`, from the rollup."""
    filters, params = "", {"tenant_id": tenant_id, "bounds": list(bounds), "start": bounds[0], "until": until}
    if queue_id is not None:
        filters += " AND queue_id = %(queue_id)s"
        params["queue_id"] = queue_id
    if channel_address_id is not None:
        filters += " AND channel_address_id = %(channel_address_id)s"
        params["channel_address_id"] = channel_address_id
    sums = ", ".join(f"sum({name}) AS {name}" for name in (*ITEM_SUMS, *CONVERSATION_SUMS))
    sql = f"""
        SELECT width_bucket(bucket, %(bounds)s::timestamptz[]) AS b, {sums}
        FROM operations_workrollup
        WHERE tenant_id = %(tenant_id)s AND bucket >= %(start)s AND bucket < %(until)s {filters}
        GROUP BY ROLLUP (1)
    """
    return {r.pop("b"): r for r in _fetch(sql, params)}


AGENT_ROLLUP_SUMS = (
    "handled",
    "handle_sum",
    "acw_sum",
    "serving_seconds",
    "working_seconds",
    "online_seconds",
    "busy_seconds",
    "away_seconds",
)


def rolled_agent_rows(*, tenant_id, bounds: list[datetime], until: datetime, by_agent: bool) -> dict:
    """Per interval and the total (or per agent) of the range's part before `until`, from the rollup."""
    key = "agent_id" if by_agent else "width_bucket(bucket, %(bounds)s::timestamptz[])"
    group = "agent_id" if by_agent else "ROLLUP (1)"
    sums = ", ".join(f"sum({name}) AS {name}" for name in AGENT_ROLLUP_SUMS)
    sql = f"""
        SELECT {key} AS k, {sums} FROM operations_agentrollup
        WHERE tenant_id = %(tenant_id)s AND bucket >= %(start)s AND bucket < %(until)s
        GROUP BY {group}
    """
    params = {"tenant_id": tenant_id, "bounds": list(bounds), "start": bounds[0], "until": until}
    return {r.pop("k"): {k: float(v or 0) for k, v in r.items()} for r in _fetch(sql, params)}


def added(*parts: dict) -> dict:
    """Rows of the same keys summed field by field (rollup part + raw part)."""
    out: dict = {}
    for part in parts:
        for key, row in part.items():
            into = out.setdefault(key, {})
            for name, value in row.items():
                into[name] = float(into.get(name) or 0) + float(value or 0)
    return out
