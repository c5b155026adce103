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
    "sla_met": "Share of conversations created in the interval whose SLA targets (first response, next "
    "response, resolution, in business time) have all been met, of those with an SLA policy whose "
    "targets were all met or breached; empty when no SLA policy applies.",
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


def work_item_rows(
    *, tenant_id, bounds: list[datetime], queue_id=None, channel_address_id=None, group_by_queue: bool = False
) -> dict:
    """Per interval (1-based index into `bounds`) and None (the total): the work-item aggregates.
    One query. With `group_by_queue`, keys are (interval, queue id) instead."""
    filters, params = _item_filters(queue_id, channel_address_id)
    group = "ROLLUP (b)" if not group_by_queue else "b, i.queue_id"
    sql = f"""
        WITH items AS (
            SELECT i.id, i.created_at, i.done_at, i.status, i.is_transfer, i.queue_id,
                   coalesce(q.service_level_seconds, %(sl)s) AS sl,
                   width_bucket(i.created_at, %(bounds)s::timestamptz[]) AS b
            FROM routing_workitem i LEFT JOIN routing_queue q ON q.id = i.queue_id
            WHERE i.tenant_id = %(tenant_id)s AND i.created_at >= %(start)s AND i.created_at < %(end)s
              AND coalesce(i.attributes->>'outbound', '') <> 'true' {filters}
        )
        SELECT {"b" if not group_by_queue else "b, i.queue_id"},
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
        LEFT JOIN routing_agentwork a ON a.work_item_id = i.id AND a.status = ANY(%(accepted)s)
        GROUP BY {group}
    """
    params.update(
        tenant_id=tenant_id,
        bounds=list(bounds),
        start=bounds[0],
        end=bounds[-1],
        sl=settings.SERVICE_LEVEL_SECONDS,
        short=settings.SHORT_ABANDON_SECONDS,
        accepted=list(ACCEPTED),
    )
    out = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [c.name for c in cursor.description]
        for row in cursor.fetchall():
            data = dict(zip(columns, row, strict=True))
            key = data.pop("b") if not group_by_queue else (data.pop("b"), data.pop("queue_id"))
            out[key] = data
    return out


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


def conversation_rows(*, tenant_id, bounds: list[datetime], queue_id=None, channel_address_id=None) -> dict:
    """Per interval and None (the total): first response and FCR aggregates of the conversations
    created in the range. One query. The queue filter keeps conversations with a work item in the
    queue; the channel filter, conversations of the channel."""
    params: dict = {
        "tenant_id": tenant_id,
        "bounds": list(bounds),
        "start": bounds[0],
        "end": bounds[-1],
        "window": settings.FCR_WINDOW_HOURS,
    }
    filters = ""
    if channel_address_id is not None:
        filters += " AND c.channel_address_id = %(channel_address_id)s"
        params["channel_address_id"] = channel_address_id
    if queue_id is not None:
        filters += """ AND c.id::text IN (
            SELECT i.attributes->>'conversation_id' FROM routing_workitem i
            WHERE i.tenant_id = %(tenant_id)s AND i.queue_id = %(queue_id)s AND i.created_at >= %(start)s)"""
        params["queue_id"] = queue_id
    sql = f"""
        WITH convs AS (
            SELECT c.id, c.tenant_id, c.contact_id, c.channel_id, c.status, c.closed_at,
                   width_bucket(c.created_at, %(bounds)s::timestamptz[]) AS b
            FROM conversations_conversation c
            WHERE c.tenant_id = %(tenant_id)s AND c.created_at >= %(start)s AND c.created_at < %(end)s {filters}
        ),
        firsts AS (
            SELECT m.conversation_id, min(m.created_at) AS first_in
            FROM conversations_message m JOIN convs ON convs.id = m.conversation_id
            WHERE m.direction = 'inbound'
            GROUP BY m.conversation_id
        ),
        replies AS (
            SELECT f.conversation_id, min(m.created_at) - f.first_in AS first_response
            FROM firsts f JOIN conversations_message m ON m.conversation_id = f.conversation_id
            WHERE m.sender_type = 'agent' AND m.direction = 'outbound' AND m.agent_id IS NOT NULL
              AND m.created_at >= f.first_in
            GROUP BY f.conversation_id, f.first_in
        )
        SELECT c.b,
            count(r.conversation_id) AS responded,
            coalesce(sum(extract(epoch FROM r.first_response)), 0) AS response_sum,
            count(*) FILTER (WHERE c.status = 'closed') AS closed,
            count(*) FILTER (WHERE c.status = 'closed' AND NOT EXISTS (
                SELECT 1 FROM conversations_conversation n
                WHERE n.contact_id = c.contact_id AND n.tenant_id = c.tenant_id
                  AND n.channel_id IS NOT DISTINCT FROM c.channel_id AND n.id <> c.id
                  AND n.created_at > c.closed_at
                  AND n.created_at <= c.closed_at + make_interval(hours => %(window)s))) AS resolved
        FROM convs c LEFT JOIN replies r ON r.conversation_id = c.id
        GROUP BY ROLLUP (c.b)
    """
    out = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [c.name for c in cursor.description]
        for row in cursor.fetchall():
            data = dict(zip(columns, row, strict=True))
            out[data.pop("b")] = data
    return out


def conversation_metrics(raw: dict | None) -> dict:
    raw = raw or {}
    return {
        "first_response_seconds": _mean(raw.get("response_sum") or 0, int(raw.get("responded") or 0)),
        "fcr": _ratio(raw.get("resolved") or 0, int(raw.get("closed") or 0)),
    }


def occupancy_rows(*, tenant_id, bounds: list[datetime], now: datetime, by_agent: bool = False) -> dict:
    """Per interval and None (the total) — or per agent, over the whole range, with `by_agent` — the
    seconds agents spent online or busy, and of those the seconds they held accepted or ACW work, plus
    (per agent) the seconds online, busy and away. One query over the presence history (multiranges)."""
    sql = """
        WITH bucket AS (
            SELECT k AS b, tstzrange((%(bounds)s::timestamptz[])[k], (%(bounds)s::timestamptz[])[k + 1]) AS r
            FROM generate_series(1, %(n)s) AS k
        ),
        spans AS (
            SELECT s.agent_id, s.status,
                   tstzrange(greatest(s.started_at, %(start)s), least(coalesce(s.ended_at, %(now)s), %(end)s)) AS r
            FROM routing_agentstatusspan s
            WHERE s.tenant_id = %(tenant_id)s AND s.started_at < %(end)s
              AND coalesce(s.ended_at, %(now)s) > %(start)s AND s.started_at < %(now)s
        ),
        serving AS (
            SELECT agent_id, range_agg(r) AS m FROM spans WHERE status = ANY(%(serving)s) GROUP BY agent_id
        ),
        working AS (
            SELECT w.agent_id,
                   range_agg(tstzrange(w.answered_at, greatest(w.answered_at, coalesce(w.ended_at, %(now)s)))) AS m
            FROM routing_agentwork w
            WHERE w.tenant_id = %(tenant_id)s AND w.status = ANY(%(accepted)s) AND w.answered_at < %(end)s
              AND coalesce(w.ended_at, %(now)s) > %(start)s
            GROUP BY w.agent_id
        )
    """
    seconds = "(SELECT coalesce(sum(extract(epoch FROM upper(x) - lower(x))), 0) FROM unnest({}) AS x)"
    if by_agent:
        whole = "tstzmultirange(tstzrange(%(start)s, %(end)s))"
        sql += f"""
            , status_time AS (
                SELECT agent_id, status, range_agg(r) AS m FROM spans GROUP BY agent_id, status
            )
            SELECT a.agent_id,
                {seconds.format("s.m * " + whole)} AS serving_seconds,
                {seconds.format("s.m * coalesce(w.m, '{}'::tstzmultirange) * " + whole)} AS working_seconds,
                {seconds.format("(SELECT m FROM status_time t WHERE t.agent_id = a.agent_id AND t.status = 'online')")}
                    AS online_seconds,
                {seconds.format("(SELECT m FROM status_time t WHERE t.agent_id = a.agent_id AND t.status = 'busy')")}
                    AS busy_seconds,
                {seconds.format("(SELECT m FROM status_time t WHERE t.agent_id = a.agent_id AND t.status = 'away')")}
                    AS away_seconds
            FROM (SELECT DISTINCT agent_id FROM spans) a
            LEFT JOIN serving s ON s.agent_id = a.agent_id
            LEFT JOIN working w ON w.agent_id = a.agent_id
        """
    else:
        sql += f"""
            SELECT bucket.b,
                sum({seconds.format("s.m * tstzmultirange(bucket.r)")}) AS serving_seconds,
                sum({seconds.format("s.m * coalesce(w.m, '{}'::tstzmultirange) * tstzmultirange(bucket.r)")})
                    AS working_seconds
            FROM bucket CROSS JOIN serving s LEFT JOIN working w ON w.agent_id = s.agent_id
            GROUP BY ROLLUP (bucket.b)
        """
    params = {
        "tenant_id": tenant_id,
        "bounds": list(bounds),
        "n": len(bounds) - 1,
        "start": bounds[0],
        "end": bounds[-1],
        "now": now,
        "serving": list(SERVING),
        "accepted": list(ACCEPTED),
    }
    out = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [c.name for c in cursor.description]
        for row in cursor.fetchall():
            data = dict(zip(columns, row, strict=True))
            key = data.pop("agent_id" if by_agent else "b")
            out[key] = {k: float(v or 0) for k, v in data.items()}
    return out


def occupancy_metric(raw: dict | None) -> float | None:
    raw = raw or {}
    return _ratio(raw.get("working_seconds") or 0, raw.get("serving_seconds") or 0)


def agent_work_rows(*, tenant_id, bounds: list[datetime]) -> dict:
    """Per agent: handled work and its handle and ACW seconds, for work items that entered routing in
    the range (the summary's attribution, so the agents add up to its total). One query."""
    sql = """
        SELECT a.agent_id,
            count(*) AS handled,
            coalesce(sum(extract(epoch FROM a.closed_at - a.answered_at)), 0) AS handle_sum,
            coalesce(sum(extract(epoch FROM a.ended_at - a.closed_at)), 0) AS acw_sum
        FROM routing_agentwork a JOIN routing_workitem i ON i.id = a.work_item_id
        WHERE i.tenant_id = %(tenant_id)s AND i.created_at >= %(start)s AND i.created_at < %(end)s
          AND coalesce(i.attributes->>'outbound', '') <> 'true'
          AND a.status = 'closed' AND a.ended_at IS NOT NULL
        GROUP BY a.agent_id
    """
    out = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, {"tenant_id": tenant_id, "start": bounds[0], "end": bounds[-1]})
        for agent_id, handled, handle_sum, acw_sum in cursor.fetchall():
            out[agent_id] = {"handled": handled, "handle_sum": float(handle_sum), "acw_sum": float(acw_sum)}
    return out
