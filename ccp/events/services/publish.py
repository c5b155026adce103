"""Writes of the event bus: publish (the transactional outbox), replay ids, the on-commit fan-out.

The fan-out hands agents' websocket pushes to push.py, wakes SSE streams and queues the relay task;
relay and webhook delivery are in webhooks.py.

Ordering guarantee — why replay ids are assigned *after* commit
---------------------------------------------------------------
A sequence value drawn at INSERT time can commit after a higher one, so a reader paging with
`?after=` could see id 8, move its cursor past 7, and lose 7 when it commits a moment later.
`event_publish` therefore inserts the row with `replay_id = NULL` in the caller's transaction;
after that transaction commits, `event_assign_replay_ids` numbers the rows in one statement (its
own transaction) that first takes a PostgreSQL advisory transaction lock. Assignments are thereby
serialised, and each one's ids are visible (commit) before the next one can draw higher ids (the
lock is released after the commit is visible). Readers only ever see rows with an assigned id, so a
reader that sees id N sees every id below N that will ever exist: the cursor cannot skip anything.
Ids are increasing but may have gaps. We chose this over a `pg_snapshot_xmin` watermark because it
keeps the read path a plain indexed range scan and makes "seen" and "numbered" the same thing.

If the process dies between the commit and the assignment (or the enqueue of the relay), the rows
stay unassigned (or unrelayed) and `events_sweep` (Celery beat) finishes the job: the outbox holds.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import uuid
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from ccp.core.db import on_commit_robust
from ccp.core.errors import Invalid
from ccp.core.redis import redis_client
from ccp.core.redis_health import redis_failed, redis_skipping
from ccp.core.untrusted_schema import UnsafeSchema, untrusted_errors
from ccp.packages.models import Partner
from tenants.models import Membership, Tenant

from ..choices import is_custom_type_name, is_standard_type
from ..models import Event, ReplayWatermark, Subscription
from ..payloads import payload_check
from ..signals import events_committed
from ..tasks import events_relay_task
from .push import push_to_agents

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key that serialises replay-id assignment ("ccpe").
REPLAY_LOCK_KEY = 0x63637065
_PENDING_ATTR = "_ccp_events_pending"


# --- publish --------------------------------------------------------------------------------------


def event_publish(
    *,
    tenant: Tenant,
    type: str,
    data: dict,
    partner: Partner | None = None,
    agent_ids: Iterable = (),
    schema: dict | None = None,
    agents_checked: bool = False,
) -> Event:
    """Write an event in the caller's transaction; fan it out only after that transaction commits.

    `partner` is the audience (its webhooks, replay and stream see the event); None keeps the event
    platform-internal (only agents' websockets get it). `agent_ids` are Membership ids whose Channels
    group `agent.<id>` receives `{"type": "ccp.event", "event": <envelope>}` on commit. `schema` is the
    JSON schema of a package's custom platform event type; `data` is validated against it.
    `agents_checked`: the caller read `agent_ids` from this tenant's own rows (a conversation's
    participants), so the query proving they are the tenant's members is skipped.
    The returned row's `replay_id` is None until the commit (ids are assigned in commit order).
    """
    if not isinstance(type, str) or not (is_standard_type(type) or (schema is not None and is_custom_type_name(type))):
        raise Invalid(
            f"Unknown event type {type!r}: use a standard type (ccp.events.choices) or a custom type "
            f"named like Name__e together with its schema.",
            code="unknown_event_type",
            details={"type": str(type)[:100]},
        )
    if not isinstance(data, dict):
        raise Invalid("Event data must be a JSON object.", code="invalid_event_data")
    # Store exactly what JSON will carry (UUIDs, datetimes and decimals become strings).
    data = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    if schema is not None:
        _validate_against_schema(type, data, schema)
    elif settings.EVENTS_VALIDATE_PAYLOADS:
        payload_check(type, data)
    event = Event(
        tenant=tenant,
        partner=partner,
        type=type,
        data=data,
        agent_ids=sorted({str(a) for a in agent_ids}) if agents_checked else _clean_agent_ids(tenant, agent_ids),
        occurred_at=timezone.now(),
    )
    deferred = _deferred.get()
    if deferred is not None:
        deferred.append(event)
        return event
    event.save(force_insert=True)
    _fan_out_on_commit(event)
    return event


# Set by events_deferred(): event_publish builds its rows into this list instead of inserting them.
_deferred: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar("ccp_events_deferred", default=None)


@contextlib.contextmanager
def events_deferred() -> Iterator[list[Event]]:
    """Within the block, `event_publish` validates and builds its rows but does not insert them: the
    caller writes them in its own statement (one round trip with the row they describe — see
    `ccp.core.db.insert_sql`) and then hands them to `events_written`, which queues their fan-out.
    Rows neither written nor discarded are a bug, and leaving the block says so."""
    if _deferred.get() is not None:
        raise RuntimeError("events_deferred() does not nest")
    events: list[Event] = []
    token = _deferred.set(events)
    try:
        yield events
    finally:
        _deferred.reset(token)


def events_written(events: list[Event], pks: list[int]) -> None:
    """The rows built under `events_deferred` were inserted (in this transaction) with these ids."""
    for event, pk in zip(events, pks, strict=True):
        event.pk = pk
        event._state.adding = False
        event._state.db = connection.alias
        _fan_out_on_commit(event)


def _clean_agent_ids(tenant: Tenant, agent_ids: Iterable) -> list[str]:
    """Membership ids of this tenant only: an event must never reach another tenant's agent."""
    try:
        wanted = sorted({str(uuid.UUID(str(a))) for a in agent_ids})
    except ValueError:
        raise Invalid("agent_ids must be Membership ids (UUIDs).", code="invalid_agent_ids") from None
    if wanted:
        found = {str(pk) for pk in Membership.objects.filter(tenant=tenant, pk__in=wanted).values_list("pk", flat=True)}
        missing = [a for a in wanted if a not in found]
        if missing:
            raise Invalid(
                "Some agent_ids are not members of this tenant.",
                code="invalid_agent_ids",
                details={"agent_ids": missing[:20]},
            )
    return wanted


def _validate_against_schema(type_: str, data: dict, schema: dict) -> None:
    # A package's PlatformEventType.fields is a {field: schema} mapping; a full schema is used as is.
    if not ("type" in schema or "properties" in schema or "$schema" in schema):
        schema = {"type": "object", "properties": schema}
    try:
        errors = untrusted_errors(schema, data)
    except UnsafeSchema as exc:
        raise Invalid(
            f"The schema of event type {type_} cannot be run safely: {exc}",
            code="invalid_event_schema",
        ) from None
    if errors:
        raise Invalid(
            f"The data of event type {type_} does not match its schema: {errors[0].message}",
            code="invalid_event_data",
            details={"/".join(str(p) for p in e.path) or "data": e.message for e in errors[:20]},
        )


def _fan_out_on_commit(event: Event) -> None:
    """Queue the row for the post-commit batch of this connection's transaction.

    One callback is registered per event so that Django drops the callbacks of rolled-back savepoints;
    the first callback that runs after the commit flushes the whole batch, the others find it empty.
    Rows of rolled-back transactions do not exist, so a stale row in the batch is harmless (the
    numbering only returns committed rows).
    """
    conn = transaction.get_connection()
    pending = getattr(conn, _PENDING_ATTR, None)
    if pending is None:
        pending = []
        setattr(conn, _PENDING_ATTR, pending)
    pending.append(event)
    on_commit_robust(_flush_pending, conn)


def _flush_pending(conn) -> None:
    pending = getattr(conn, _PENDING_ATTR, None)
    if not pending:
        return
    setattr(conn, _PENDING_ATTR, [])
    _fan_out(pending)


# --- replay ids + fan-out -----------------------------------------------------------------------


def event_assign_replay_ids(*, event_pks: list[int]) -> list[int]:
    """Number committed, unnumbered events in commit order; returns the pks this call numbered.

    Precondition: not inside a transaction that wrote these rows (they must be committed). The
    advisory lock serialises assigners, so ids become visible in increasing order (module docstring).
    """
    return [pk for pk, _, _ in _assign_replay_ids(event_pks, settle_unsubscribed=False)]


def _assign_replay_ids(event_pks: list[int], *, settle_unsubscribed: bool) -> list[tuple[int, int, bool]]:
    """(pk, replay id, needs a relay) of the rows this call numbered. Platform-internal rows, and
    with `settle_unsubscribed` partner rows that no active subscription of their partner matches,
    are marked relayed at once: nobody will get a webhook for them, so no relay task is needed."""
    if not event_pks:
        return []
    if connection.vendor != "postgresql":
        return _assign_replay_ids_serial(event_pks, settle_unsubscribed)
    # One statement, so in autocommit (after the caller's commit) it is its own transaction: the
    # advisory lock is taken before any id is drawn (the join needs its row first) and released
    # only after the statement commits. One round trip instead of BEGIN, lock, UPDATE, COMMIT.
    with connection.cursor() as cursor:
        cursor.execute(
            """
                WITH serialised AS MATERIALIZED (
                    SELECT pg_advisory_xact_lock(%s) AS locked
                ), todo AS (
                    SELECT e.id FROM events_event e, serialised
                    WHERE e.id = ANY(%s) AND e.replay_id IS NULL
                    ORDER BY e.id FOR UPDATE OF e
                ), numbered AS (
                    SELECT id, nextval('events_replay_id_seq') AS rid FROM todo
                )
                UPDATE events_event AS e
                SET replay_id = numbered.rid,
                    relayed_at = CASE
                        WHEN e.partner_id IS NULL THEN now()
                        WHEN %s AND NOT EXISTS (
                            SELECT 1 FROM events_subscription s
                            WHERE s.partner_id = e.partner_id AND s.is_active
                              AND (s.event_types ? '*' OR s.event_types ? e.type)
                        ) THEN now()
                        ELSE NULL END
                FROM numbered WHERE e.id = numbered.id
                RETURNING e.id, e.replay_id, e.relayed_at IS NULL
                """,
            [REPLAY_LOCK_KEY, list(event_pks), settle_unsubscribed],
        )
        return [(pk, rid, bool(unrelayed)) for pk, rid, unrelayed in cursor.fetchall()]


def _assign_replay_ids_serial(event_pks: list[int], settle_unsubscribed: bool) -> list[tuple[int, int, bool]]:
    # The embedded SQLite default serialises writers itself; max + 1 is safe there.
    with transaction.atomic():
        mark = ReplayWatermark.objects.filter(pk=1).values_list("pruned_through", flat=True).first() or 0
        current = Event.objects.aggregate(m=Max("replay_id"))["m"] or mark
        events = list(Event.objects.filter(pk__in=event_pks, replay_id__isnull=True).order_by("pk"))
        wanted = _events_with_subscribers(events) if settle_unsubscribed else {e.pk for e in events}
        done = []
        for event in events:
            current += 1
            event.replay_id = current
            needs_relay = event.partner_id is not None and event.pk in wanted
            event.relayed_at = None if needs_relay else timezone.now()
            event.save(update_fields=["replay_id", "relayed_at"])
            done.append((event.pk, current, needs_relay))
        return done


def event_fan_out(*, event_pks: list[int]) -> list[Event]:
    """Number committed events, then notify: signal, agents' websockets, stream wake-up, relay task.

    Each notification is best effort and logged on failure: the rows are committed and numbered, so
    replay and the stream have them, and `events_sweep` relays any whose relay enqueue was lost.
    """
    assigned = event_assign_replay_ids(event_pks=event_pks)
    if not assigned:
        return []
    events = list(Event.objects.filter(pk__in=assigned).select_related("tenant").order_by("replay_id"))
    _notify(events, relay=[e for e in events if e.partner_id is not None])
    return events


def _fan_out(events: list[Event]) -> list[Event]:
    """`event_fan_out` of the rows this process just committed: numbered from the rows in memory
    (no re-read), and partner events no subscription matches are not relayed (no Celery task)."""
    numbered = {
        pk: (rid, relay) for pk, rid, relay in _assign_replay_ids([e.pk for e in events], settle_unsubscribed=True)
    }
    done = []
    for event in events:
        if event.pk in numbered:
            event.replay_id = numbered[event.pk][0]
            done.append(event)
    done.sort(key=lambda e: e.replay_id)
    _notify(done, relay=[e for e in done if numbered[e.pk][1]])
    return done


def _events_with_subscribers(events: list[Event]) -> set[int]:
    """Pks of these partner events that an active subscription of their partner matches."""
    types: dict = {}
    for partner_id, event_types in Subscription.objects.filter(
        partner_id__in={e.partner_id for e in events if e.partner_id is not None}, is_active=True
    ).values_list("partner_id", "event_types"):
        types.setdefault(partner_id, set()).update(event_types or ())
    return {e.pk for e in events if "*" in types.get(e.partner_id, ()) or e.type in types.get(e.partner_id, ())}


def _notify(events: list[Event], *, relay: list[Event]) -> None:
    push_to_agents(events)
    for receiver, result in events_committed.send_robust(sender=Event, events=events):
        if isinstance(result, Exception):
            logger.warning("events_committed receiver %r failed: %s", receiver, result)
    partner_ids = {e.partner_id for e in events if e.partner_id is not None}
    if partner_ids:
        _wake_streams(partner_ids)
    if relay and not redis_skipping():  # Redis down: the sweep relays them once it is back
        try:
            events_relay_task.delay([e.pk for e in relay])
        except Exception as exc:
            redis_failed("relay enqueue", exc)
            logger.warning("could not enqueue the relay of %d events; the sweep will", len(relay))


def stream_channel(partner_id) -> str:
    """The Redis pub/sub channel that wakes a partner's SSE streams."""
    return f"{settings.EVENTS_REDIS_PREFIX}:stream:{partner_id}"


def _wake_streams(partner_ids: set) -> None:
    if not settings.REDIS_URL or redis_skipping():
        return  # the embedded default, or Redis down: streams poll at each heartbeat
    try:
        pipe = redis_client().pipeline(transaction=False)
        for partner_id in partner_ids:
            pipe.publish(stream_channel(partner_id), "1")
        pipe.execute()
    except Exception as exc:
        redis_failed("stream wake-up", exc)


def streams_wake_on_commit(*, partner_ids: set) -> None:
    """Wake these partners' open event streams after the current transaction commits (they re-check
    their token on waking: a revocation closes them at once instead of at the next re-check)."""
    on_commit_robust(_wake_streams, set(partner_ids))


# --- bulk publish ---------------------------------------------------------------------------------


def event_publish_many(*, tenant: Tenant, events: list[dict]) -> list[Event]:
    """`event_publish` for many events of one tenant: the same outbox rows, checked with one membership
    query and written with one INSERT in the caller's transaction, fanned out together on commit.

    Each entry is `{"type", "data", "partner" (optional), "agent_ids" (optional)}` with a standard type
    (a custom type goes through `event_publish` with its schema). For hot paths that publish one event
    per row of a batch, e.g. the offers of a routing dispatch round.
    """
    from ccp.core.bulk import bulk_insert

    rows = []
    for entry in events:
        type_, data = entry.get("type"), entry.get("data")
        if not isinstance(type_, str) or not is_standard_type(type_):
            raise Invalid(
                f"Unknown event type {type_!r}: use a standard type (ccp.events.choices); a custom type "
                f"is published with its schema through event_publish.",
                code="unknown_event_type",
                details={"type": str(type_)[:100]},
            )
        if not isinstance(data, dict):
            raise Invalid("Event data must be a JSON object.", code="invalid_event_data")
        try:
            agent_ids = sorted({str(uuid.UUID(str(a))) for a in entry.get("agent_ids") or ()})
        except ValueError:
            raise Invalid("agent_ids must be Membership ids (UUIDs).", code="invalid_agent_ids") from None
        partner_id = entry["partner"].pk if entry.get("partner") is not None else None
        rows.append(Event(tenant=tenant, partner_id=partner_id, type=type_, agent_ids=agent_ids))
    if not rows:
        return []
    _clean_agent_ids(tenant, {a for row in rows for a in row.agent_ids})  # one query for the whole batch
    # Store exactly what JSON will carry (as event_publish does), in one round trip for the batch.
    stored = json.loads(json.dumps([entry["data"] for entry in events], cls=DjangoJSONEncoder))
    now = timezone.now()
    for row, data in zip(rows, stored, strict=True):
        if settings.EVENTS_VALIDATE_PAYLOADS:
            payload_check(row.type, data)
        row.data = data
        row.occurred_at = now
    bulk_insert(Event, rows)  # one JSON parameter instead of a literal per field (ccp.core.bulk)
    for event in rows:  # the same post-commit batch as event_publish's rows
        _fan_out_on_commit(event)
    return rows
