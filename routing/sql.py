"""Routing's hot reads and writes as single PostgreSQL statements (the ORM path stays for SQLite).

- An offer made one at a time (`offers._offer`: in the request that opened a conversation, a
  transfer's, a direct one; dispatch rounds write theirs in bulk) writes four rows: the AgentWork, the
  work item's status, the agent's `last_offered_at` and the `work.offered` event. `offer_write` is
  those four in one data-modifying CTE: one round trip instead of four, and none of the ORM's
  statement building. The caller holds the locks (`offers._offer`), so the statement only writes.
- An accept's four writes likewise (`accept_write`).
- The candidate snapshot's three reads (`candidate_rows`).
The tests compare each with the ORM calls it stands for (tests/routing/test_sql.py).
"""

from __future__ import annotations

import json

from django.db import connection

from ccp.core.bulk import insert_sql

from .models import AgentPresence, AgentWork, WorkItem


def fast_path() -> bool:
    return connection.vendor == "postgresql"


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def offer_write(work_sql: tuple[str, list], item: WorkItem, presence: AgentPresence, events: list) -> list[int]:
    """Insert the work (`work_sql`: its `ccp.core.bulk.insert_sql`), set the item's status and the presence's
    `last_offered_at` to the values already set on them, and insert `events` (rows built under
    `ccp.events.services.events_deferred`), in one statement. Returns the events' ids.

    A broken invariant fails the whole statement (one_active_work_per_item), as the separate
    statements failed the transaction."""
    sql, params = work_sql
    parts = [f"w AS ({sql} RETURNING 1)"]
    parts.append(f"i AS (UPDATE {_q(WorkItem._meta.db_table)} SET status = %s WHERE id = %s)")  # noqa: S608
    params += [item.status, item.pk]
    parts.append(f"p AS (UPDATE {_q(AgentPresence._meta.db_table)} SET last_offered_at = %s WHERE id = %s)")  # noqa: S608
    params += [presence.last_offered_at, presence.pk]
    written, *event_ids = _with_events(parts, params, events, first="(SELECT count(*) FROM w)")
    if written != 1:  # cannot happen: a plain INSERT either writes its row or raises
        raise RuntimeError("the offer's work row was not written")
    return event_ids


def _with_events(parts: list[str], params: list, events: list, *, first: str) -> list:
    """Run the CTE `parts` with an INSERT of each of `events` added; returns `first` (a SQL value
    read from the parts) and then the events' ids."""
    for n, event in enumerate(events):
        event_sql, event_params = insert_sql(event, returning="id")
        parts.append(f"ev{n} AS ({event_sql})")
        params += event_params
    selected = ", ".join([first, *(f"(SELECT id FROM ev{n})" for n in range(len(events)))])  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT {selected}", params)
        return list(cursor.fetchone())


# What a candidate row holds, named as the ORM's `AgentPresence.objects.values(...)` names it (the
# ORM path, `engines.snapshots.orm_candidate_rows`, reads the same names).
CANDIDATE_FIELDS = (
    "membership_id",
    "capacity",
    "voice_blocks_messaging",
    "last_work_ended_at",
    "status_since",
    "last_offered_at",
    "membership__display_name",
    "membership__user__username",
)


def candidate_rows(*, tenant_id, roles, online: str, holding, queue_id=None) -> list[dict]:
    """`engines.snapshots.candidate_snapshot`'s three reads in one statement: the online agents (and
    supervisors) of the tenant — of the queue's members when `queue_id` is given — with their
    presence, name, the capacity their work in `holding` statuses uses per channel type and their
    skills (a queue with no members listed takes every agent). Rows as the ORM's `.values()` gave
    them, plus `used` {channel type: weight} and `skills` {name: level}."""
    from django.contrib.auth import get_user_model

    from tenants.models import Membership

    from .models import AgentSkill, Queue, Skill

    tables = {
        "presence": AgentPresence,
        "member": Membership,
        "user": get_user_model(),
        "work": AgentWork,
        "agent_skill": AgentSkill,
        "skill": Skill,
    }
    t = {name: _q(model._meta.db_table) for name, model in tables.items()}
    queue_filter = ""
    if queue_id is not None:
        through = Queue._meta.get_field("members").remote_field.through._meta
        columns = {f.related_model: f.column for f in through.get_fields() if getattr(f, "related_model", None)}
        members, queue_column, table = _q(columns[Membership]), _q(columns[Queue]), _q(through.db_table)
        # a queue with no members listed takes every agent of the tenant; identifiers come from the
        # models' metadata, quoted, and every value is a parameter
        queue_filter = (
            f" AND (NOT EXISTS (SELECT 1 FROM {table} q WHERE q.{queue_column} = %s)"  # noqa: S608
            f" OR m.id IN (SELECT q.{members} FROM {table} q WHERE q.{queue_column} = %s))"
        )
    sql = f"""
        SELECT p.membership_id, p.capacity, p.voice_blocks_messaging, p.last_work_ended_at, p.status_since,
            p.last_offered_at, m.display_name, u.username,
            (SELECT json_object_agg(x.channel_type, x.total) FROM (
                SELECT w.channel_type, SUM(w.weight) AS total FROM {t["work"]} w
                WHERE w.agent_id = p.membership_id AND w.status = ANY(%s) GROUP BY w.channel_type) x),
            (SELECT json_object_agg(s.name, a.level) FROM {t["agent_skill"]} a
                JOIN {t["skill"]} s ON s.id = a.skill_id WHERE a.membership_id = p.membership_id)
        FROM {t["presence"]} p
        JOIN {t["member"]} m ON m.id = p.membership_id
        JOIN {t["user"]} u ON u.id = m.user_id
        WHERE m.tenant_id = %s AND m.role = ANY(%s) AND p.status = %s{queue_filter}"""  # noqa: S608
    params = [list(holding), tenant_id, list(roles), online]
    if queue_id is not None:
        params += [queue_id, queue_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    out = []
    for row in rows:
        found = dict(zip(CANDIDATE_FIELDS, row[:8], strict=True))
        found["capacity"] = _json(found["capacity"]) or {}
        found["used"] = {k: int(v) for k, v in (_json(row[8]) or {}).items()}
        found["skills"] = _json(row[9]) or {}
        out.append(found)
    return out


def _json(value):
    """Django's PostgreSQL backend has json(b) columns come back as text (JSONField parses them)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def accept_write(work: AgentWork, events: list) -> list[int]:
    """An accepted offer's writes in one statement (`offers.work_accept`): the work's status and
    `answered_at` and the item's status as already set on them, the agent's `ignored_offers` back to
    0 only where it is not (so a zero counter takes no presence row lock, and an accept neither waits
    for nor holds up a dispatch round locking that agent), and `events`. Returns the events' ids."""
    item = work.work_item
    work_table, item_table, presence_table = (_q(m._meta.db_table) for m in (AgentWork, WorkItem, AgentPresence))
    parts = [
        f"w AS (UPDATE {work_table} SET status = %s, answered_at = %s WHERE id = %s)",  # noqa: S608
        f"i AS (UPDATE {item_table} SET status = %s WHERE id = %s)",  # noqa: S608
        f"p AS (UPDATE {presence_table} SET ignored_offers = 0 WHERE membership_id = %s AND ignored_offers > 0)",  # noqa: S608
    ]
    params = [work.status, work.answered_at, work.pk, item.status, item.pk, work.agent_id]
    return _with_events(parts, params, events, first="1")[1:]
