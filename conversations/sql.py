"""The hot paths' statements in SQL, where one statement does what the ORM needs several round trips for.

PostgreSQL only: SQLite (the embedded default) has no data-modifying CTEs and no arrays, so the
services call these only when `connection.vendor == "postgresql"` and keep the ORM path otherwise
(`fast_path()`). Each function's docstring names the ORM calls it stands for; the tests run both
paths and compare what they store (tests/conversations/test_sql.py).
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import connection

from ccp.core.bulk import insert_sql

from .models import Contact, Conversation, Message, Participant, Session


def fast_path() -> bool:
    return connection.vendor == "postgresql"


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def participant_agent_ids(conversation_id) -> list:
    """The Membership ids of the agents who hold the conversation, by joining order: the ORM's
    `Participant.objects.filter(conversation=…, left_at__isnull=True).values_list("agent_id")`, whose
    compilation cost more than the query on every reply."""
    table = _q(Participant._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT agent_id FROM {table} WHERE conversation_id = %s AND left_at IS NULL ORDER BY joined_at",  # noqa: S608
            [conversation_id],
        )
        return [row[0] for row in cursor.fetchall()]


def _instance(model, values):
    """A model instance from its concrete columns' raw values (in `_meta.concrete_fields` order),
    converted as the ORM's compiler would."""
    fields = model._meta.concrete_fields
    converted = []
    for field, value in zip(fields, values, strict=True):
        for converter in field.get_db_converters(connection):
            value = converter(value, None, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def conversation_lock_row(conversation_id) -> Conversation | None:
    """The conversation, its row locked until commit; or None. Stands for
    `Conversation.objects.select_for_update().filter(pk=…).first()` (1.0 ms of CPU to build and read,
    0.26 ms this way), which every agent reply, close and transfer runs."""
    columns = [f.column for f in Conversation._meta.concrete_fields]
    table = _q(Conversation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(_q(c) for c in columns)} FROM {table} WHERE id = %s FOR UPDATE",  # noqa: S608
            [conversation_id],
        )
        row = cursor.fetchone()
    return _instance(Conversation, row) if row is not None else None


def conversation_id_of_tenant(conversation_id, tenant_id) -> Conversation | None:
    """The tenant's conversation with only its id and tenant loaded (the other fields deferred), or None:
    `Conversation.objects.filter(pk=…, tenant=…).only("id", "tenant").first()`."""
    table = _q(Conversation._meta.db_table)
    query = f"SELECT id, tenant_id FROM {table} WHERE id = %s AND tenant_id = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(query, [conversation_id, tenant_id])
        row = cursor.fetchone()
    return Conversation.from_db(connection.alias, ["id", "tenant_id"], row) if row is not None else None


def open_conversation_lock(channel_id, address: str, thread: str, statuses) -> Conversation | None:
    """The open conversation of this end user and thread on this channel, locked (`FOR UPDATE` of its
    row only), with its contact; or None. Stands for `Conversation.objects.select_for_update(of=("self",))
    .select_related("contact").filter(…, status__in=…).first()`, whose compilation was the largest
    single cost of an inbound message (`bench/cpu_per_request.py --profile ingest`)."""
    conversation_columns = [f.column for f in Conversation._meta.concrete_fields]
    contact_columns = [f.column for f in Contact._meta.concrete_fields]
    conversation_table, contact_table = _q(Conversation._meta.db_table), _q(Contact._meta.db_table)
    contact_fk = _q(Conversation._meta.get_field("contact").column)
    # Identifiers come from the models' metadata, quoted; every value is a parameter.
    sql = f"""
        SELECT {", ".join(f"c.{_q(x)}" for x in conversation_columns)},
               {", ".join(f"k.{_q(x)}" for x in contact_columns)}
        FROM {conversation_table} c JOIN {contact_table} k ON k.id = c.{contact_fk}
        WHERE c.channel_id = %s AND c.end_user_address = %s AND c.thread_key = %s AND c.status = ANY(%s)
        ORDER BY c.created_at DESC LIMIT 1
        FOR UPDATE OF c"""  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [channel_id, address, thread, [str(s) for s in statuses]])
        row = cursor.fetchone()
    if row is None:
        return None
    conversation = _instance(Conversation, row[: len(conversation_columns)])
    conversation.contact = _instance(Contact, row[len(conversation_columns) :])
    return conversation


def session_conversation_lock(session_id) -> tuple[Session, Conversation] | None:
    """The session and its conversation (with its contact), the conversation's row locked until commit
    (`FOR UPDATE` of that row only); or None. Stands for `Session.objects.select_related("conversation")
    .filter(pk=…).first()`, then the conversation's `conversation_lock_row` and its lazy contact read:
    what accepting an offer reads before it writes."""
    models = (Session, Conversation, Contact)
    columns = [[f.column for f in model._meta.concrete_fields] for model in models]
    session_table, conversation_table, contact_table = (_q(model._meta.db_table) for model in models)
    contact_fk = _q(Conversation._meta.get_field("contact").column)
    selected = ", ".join(
        f"{alias}.{_q(column)}" for alias, names in zip("sck", columns, strict=True) for column in names
    )
    # Identifiers come from the models' metadata, quoted; every value is a parameter.
    sql = f"""
        SELECT {selected}
        FROM {session_table} s
        JOIN {conversation_table} c ON c.id = s.conversation_id
        JOIN {contact_table} k ON k.id = c.{contact_fk}
        WHERE s.id = %s
        FOR UPDATE OF c"""  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [session_id])
        row = cursor.fetchone()
    if row is None:
        return None
    ends = len(columns[0]), len(columns[0]) + len(columns[1])
    session = _instance(Session, row[: ends[0]])
    conversation = _instance(Conversation, row[ends[0] : ends[1]])
    conversation.contact = _instance(Contact, row[ends[1] :])
    session.conversation = conversation
    return session, conversation


def inbound_context(conversation: Conversation, entry_ids: list[str]) -> tuple[Session | None, list, dict[str, str]]:
    """After the conversation is locked, in one statement: its open session (or None), the agents who
    hold it (Membership ids, by joining order) and which of `entry_ids` are stored already
    ({entry id: message id}). Stands for `open_session`'s read, `active_agent_ids` and the
    duplicate-entry check. It runs after the lock, so it sees every join or leave committed before it."""
    session_table, participant_table, message_table = (_q(m._meta.db_table) for m in (Session, Participant, Message))
    columns = [f.column for f in Session._meta.concrete_fields]
    # Identifiers come from the models' metadata, quoted; every value is a parameter.
    sql = f"""
        SELECT {", ".join(f"s.{_q(c)}" for c in columns)},
            ARRAY(SELECT p.agent_id FROM {participant_table} p
                  WHERE p.conversation_id = %s AND p.left_at IS NULL ORDER BY p.joined_at),
            ARRAY(SELECT ARRAY[m.partner_entry_id, m.id::text] FROM {message_table} m
                  WHERE m.tenant_id = %s AND m.channel_address_id = %s AND m.partner_entry_id = ANY(%s))
        FROM (SELECT 1) AS one
        LEFT JOIN LATERAL (
            SELECT * FROM {session_table} WHERE conversation_id = %s AND is_open ORDER BY started_at LIMIT 1
        ) AS s ON TRUE"""  # noqa: S608
    params = [
        conversation.pk,
        conversation.tenant_id,
        conversation.channel_address_id,
        list(entry_ids),
        conversation.pk,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    values, agents, duplicates = row[: len(columns)], row[-2], row[-1]
    session = _instance(Session, values) if values[0] is not None else None
    return session, list(agents), {entry: message_id for entry, message_id in duplicates}


def message_with_events_insert(
    conversation: Conversation, message: Message, events: list, *, also_save: tuple[str, ...] = ()
) -> tuple[bool, list[int]]:
    """One statement: insert `message` unless its partner entry is stored already (any unique
    conflict: nothing is written then), move the conversation's `last_seq` / `last_message_at` /
    `updated_at` (and the fields named in `also_save`) to the values already set on `conversation`,
    and insert `events` (rows built under `ccp.events.services.events_deferred`) only if the message
    was inserted.

    Stands for `message_append` (UPDATE conversation + INSERT message in a savepoint) and one
    `event_publish` INSERT per event. Returns (inserted, the events' ids). The caller holds the
    conversation's row lock, so `last_seq` cannot move under it."""
    message_sql, params = insert_sql(message, returning="id", ignore_conflicts=True)
    parts = [f"msg AS ({message_sql})"]
    conversation_table = _q(Conversation._meta.db_table)
    extra = [Conversation._meta.get_field(name) for name in also_save]
    assignments = "".join(f", {_q(field.column)} = %s" for field in extra)
    parts.append(
        f"conv AS (UPDATE {conversation_table} SET last_seq = %s, last_message_at = %s, updated_at = %s"  # noqa: S608
        f"{assignments} WHERE id = %s AND EXISTS (SELECT 1 FROM msg))"
    )
    params += [conversation.last_seq, conversation.last_message_at, conversation.updated_at]
    params += [field.get_db_prep_save(getattr(conversation, field.attname), connection) for field in extra]
    params.append(conversation.pk)
    for n, event in enumerate(events):
        event_sql, event_params = insert_sql(event, returning="id", only_if="EXISTS (SELECT 1 FROM msg)")
        parts.append(f"ev{n} AS ({event_sql})")
        params += event_params
    selected = ", ".join(["msg.id", *(f"(SELECT id FROM ev{n})" for n in range(len(events)))])  # noqa: S608
    with connection.cursor() as cursor:
        # a row even when msg is empty (a conflict): the LEFT JOIN of one row
        statement = f"WITH {', '.join(parts)} SELECT {selected} FROM (SELECT 1) AS one LEFT JOIN msg ON TRUE"  # noqa: S608
        cursor.execute(statement, params)
        row = cursor.fetchone()
    if row[0] is None:
        return False, []
    return True, list(row[1:])


def conversation_detail_parts(conversation: Conversation) -> tuple[list[str], list[dict], list[dict]]:
    """`selectors.conversation_detail`'s three reads in one statement: the conversation's session ids
    (newest first), its participants (joining order, with the agent's name parts) and the work of
    all its sessions (offer order, with whether it is a transfer). Values converted as the ORM's:
    uuids as strings where the detail shows strings, datetimes as aware datetimes."""
    from django.contrib.auth import get_user_model

    from routing.models import AgentWork, WorkItem
    from tenants.models import Membership

    t = {
        name: _q(model._meta.db_table)
        for name, model in {
            "session": Session,
            "participant": Participant,
            "member": Membership,
            "user": get_user_model(),
            "work": AgentWork,
            "item": WorkItem,
        }.items()
    }
    # Identifiers come from the models' metadata, quoted; every value is a parameter.
    sql = f"""
        WITH sessions AS (
            SELECT id::text AS id, started_at FROM {t["session"]} WHERE conversation_id = %s
        )
        SELECT
            ARRAY(SELECT id FROM sessions ORDER BY started_at DESC, id DESC),
            (SELECT json_agg(json_build_object(
                    'agent_id', p.agent_id, 'display_name', m.display_name, 'first_name', u.first_name,
                    'last_name', u.last_name, 'username', u.username, 'joined_at', p.joined_at,
                    'left_at', p.left_at, 'leave_reason', p.leave_reason) ORDER BY p.joined_at, p.id)
             FROM {t["participant"]} p JOIN {t["member"]} m ON m.id = p.agent_id JOIN {t["user"]} u ON u.id = m.user_id
             WHERE p.conversation_id = %s),
            (SELECT json_agg(json_build_object(
                    'work_id', w.id, 'agent_id', w.agent_id, 'status', w.status, 'engine', w.engine,
                    'offered_at', w.offered_at, 'expires_at', w.expires_at, 'answered_at', w.answered_at,
                    'closed_at', w.closed_at, 'acw_ends_at', w.acw_ends_at, 'ended_at', w.ended_at,
                    'is_transfer', i.is_transfer) ORDER BY w.offered_at, w.id)
             FROM {t["work"]} w JOIN {t["item"]} i ON i.id = w.work_item_id
             WHERE i.reference IN (SELECT id FROM sessions) AND w.tenant_id = %s)"""  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [conversation.pk, conversation.pk, conversation.tenant_id])
        sessions, participants, works = cursor.fetchone()
    times = ("joined_at", "left_at", "offered_at", "expires_at", "answered_at", "closed_at", "acw_ends_at", "ended_at")

    def rows(value) -> list[dict]:
        out = json.loads(value) if isinstance(value, str | bytes) else (value or [])
        for row in out:
            for key in times:
                if row.get(key) is not None:
                    row[key] = datetime.fromisoformat(row[key])
        return out

    return list(sessions), rows(participants), rows(works)
