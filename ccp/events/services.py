"""Writes of the event bus: publish (the transactional outbox), fan-out, relay, webhook delivery.

Ordering guarantee — why replay ids are assigned *after* commit
---------------------------------------------------------------
A sequence value drawn at INSERT time can commit after a higher one, so a reader paging with
`?after=` could see id 8, move its cursor past 7, and lose 7 when it commits a moment later.
`event_publish` therefore inserts the row with `replay_id = NULL` in the caller's transaction;
after that transaction commits, `event_assign_replay_ids` numbers the rows in a short transaction
that first takes a PostgreSQL advisory transaction lock. Assignment transactions are thereby
serialised, and each one's ids are visible (commit) before the next one can draw higher ids (the
lock is released after the commit is visible). Readers only ever see rows with an assigned id, so a
reader that sees id N sees every id below N that will ever exist: the cursor cannot skip anything.
Ids are increasing but may have gaps. We chose this over a `pg_snapshot_xmin` watermark because it
keeps the read path a plain indexed range scan and makes "seen" and "numbered" the same thing.

If the process dies between the commit and the assignment (or the enqueue of the relay), the rows
stay unassigned (or unrelayed) and `events_sweep` (Celery beat) finishes the job: the outbox holds.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from urllib.parse import urlsplit

import jsonschema
import requests
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from ccp.core.errors import Conflict, Invalid
from ccp.packages.models import Partner
from tenants.models import Membership, Tenant

from .choices import ALL_EVENTS, DeliveryStatus, is_custom_type_name, is_standard_type
from .models import Delivery, DeliveryAttempt, Event, ReplayWatermark, Subscription
from .selectors import event_envelope
from .signals import event_committed

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
) -> Event:
    """Write an event in the caller's transaction; fan it out only after that transaction commits.

    `partner` is the audience (its webhooks, replay and stream see the event); None keeps the event
    platform-internal (only agents' websockets get it). `agent_ids` are Membership ids whose Channels
    group `agent.<id>` receives `{"type": "ccp.event", "event": <envelope>}` on commit. `schema` is the
    JSON schema of a package's custom platform event type; `data` is validated against it.
    The returned row's `replay_id` is None until the commit (ids are assigned in commit order).
    """
    if not isinstance(type, str) or not (
        is_standard_type(type) or (schema is not None and is_custom_type_name(type))
    ):
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
    event = Event.objects.create(
        tenant=tenant,
        partner=partner,
        type=type,
        data=data,
        agent_ids=_clean_agent_ids(tenant, agent_ids),
        occurred_at=timezone.now(),
    )
    _fan_out_on_commit(event.pk)
    return event


def _clean_agent_ids(tenant: Tenant, agent_ids: Iterable) -> list[str]:
    """Membership ids of this tenant only: an event must never reach another tenant's agent."""
    try:
        wanted = sorted({str(uuid.UUID(str(a))) for a in agent_ids})
    except ValueError:
        raise Invalid("agent_ids must be Membership ids (UUIDs).", code="invalid_agent_ids") from None
    if wanted:
        found = {
            str(pk)
            for pk in Membership.objects.filter(tenant=tenant, pk__in=wanted).values_list("pk", flat=True)
        }
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
    if "type" in schema or "properties" in schema or "$schema" in schema:
        full = schema
    else:
        full = {"type": "object", "properties": schema}
    try:
        validator_cls = jsonschema.validators.validator_for(full)
        validator_cls.check_schema(full)
    except jsonschema.SchemaError as exc:
        raise Invalid(
            f"The schema of event type {type_} is not a valid JSON schema: {exc.message}",
            code="invalid_event_schema",
        ) from None
    errors = sorted(validator_cls(full).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        raise Invalid(
            f"The data of event type {type_} does not match its schema: {errors[0].message}",
            code="invalid_event_data",
            details={"/".join(str(p) for p in e.path) or "data": e.message for e in errors[:20]},
        )


def _fan_out_on_commit(event_pk: int) -> None:
    """Queue the row for the post-commit batch of this connection's transaction.

    One callback is registered per event so that Django drops the callbacks of rolled-back savepoints;
    the first callback that runs after the commit flushes the whole batch, the others find it empty.
    Rows of rolled-back transactions do not exist, so a stale id in the batch is harmless.
    """
    conn = transaction.get_connection()
    pending = getattr(conn, _PENDING_ATTR, None)
    if pending is None:
        pending = []
        setattr(conn, _PENDING_ATTR, pending)
    pending.append(event_pk)
    transaction.on_commit(partial(_flush_pending, conn), robust=True)


def _flush_pending(conn) -> None:
    pending = getattr(conn, _PENDING_ATTR, None)
    if not pending:
        return
    setattr(conn, _PENDING_ATTR, [])
    event_fan_out(event_pks=pending)


# --- replay ids + fan-out -----------------------------------------------------------------------


def event_assign_replay_ids(*, event_pks: list[int]) -> list[int]:
    """Number committed, unnumbered events in commit order; returns the pks this call numbered.

    Precondition: not inside a transaction that wrote these rows (they must be committed). The
    advisory lock serialises assigners, so ids become visible in increasing order (module docstring).
    """
    if not event_pks:
        return []
    if connection.vendor != "postgresql":
        return _assign_replay_ids_serial(event_pks)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REPLAY_LOCK_KEY])
        cursor.execute(
            """
                WITH todo AS (
                    SELECT id FROM events_event
                    WHERE id = ANY(%s) AND replay_id IS NULL
                    ORDER BY id FOR UPDATE
                ), numbered AS (
                    SELECT id, nextval('events_replay_id_seq') AS rid FROM todo
                )
                UPDATE events_event AS e
                SET replay_id = numbered.rid,
                    relayed_at = CASE WHEN e.partner_id IS NULL THEN now() ELSE NULL END
                FROM numbered WHERE e.id = numbered.id
                RETURNING e.id
                """,
            [list(event_pks)],
        )
        return [row[0] for row in cursor.fetchall()]


def _assign_replay_ids_serial(event_pks: list[int]) -> list[int]:
    # The embedded SQLite default serialises writers itself; max + 1 is safe there.
    with transaction.atomic():
        mark = ReplayWatermark.objects.filter(pk=1).values_list("pruned_through", flat=True).first() or 0
        current = Event.objects.aggregate(m=Max("replay_id"))["m"] or mark
        done = []
        for event in Event.objects.filter(pk__in=event_pks, replay_id__isnull=True).order_by("pk"):
            current += 1
            event.replay_id = current
            event.relayed_at = timezone.now() if event.partner_id is None else None
            event.save(update_fields=["replay_id", "relayed_at"])
            done.append(event.pk)
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
    for event in events:
        for receiver, result in event_committed.send_robust(sender=event.type, event=event):
            if isinstance(result, Exception):
                logger.error("event_committed receiver %r failed for %s", receiver, event, exc_info=result)
    _push_to_agents(events)
    partner_events = [e for e in events if e.partner_id is not None]
    if partner_events:
        _wake_streams({e.partner_id for e in partner_events})
        try:
            from .tasks import events_relay_task

            events_relay_task.delay([e.pk for e in partner_events])
        except Exception:
            logger.exception("could not enqueue the relay of %d events; the sweep will", len(partner_events))
    return events


def agent_group(membership_id) -> str:
    """The Channels group of one agent (a Membership)."""
    return f"agent.{membership_id}"


def _push_to_agents(events: list[Event]) -> None:
    """One hop into the event loop for the whole batch: group_send per (agent, event), in order."""
    messages: list[tuple[str, dict]] = []
    for event in events:
        if event.agent_ids:
            envelope = event_envelope(event)
            messages.extend(
                (agent_group(agent_id), {"type": "ccp.event", "event": envelope})
                for agent_id in event.agent_ids
            )
    if not messages:
        return
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all():
        for group, message in messages:
            await layer.group_send(group, message)

    try:
        async_to_sync(send_all)()
    except Exception:
        logger.exception("websocket push of %d messages failed", len(messages))


_redis_lock = threading.Lock()
_redis_client = None


def stream_channel(partner_id) -> str:
    """The Redis pub/sub channel that wakes a partner's SSE streams."""
    return f"{settings.EVENTS_REDIS_PREFIX}:stream:{partner_id}"


def _wake_streams(partner_ids: set) -> None:
    global _redis_client
    if not settings.REDIS_URL:
        return  # the embedded default: streams poll
    try:
        with _redis_lock:
            if _redis_client is None:
                import redis

                _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        pipe = _redis_client.pipeline(transaction=False)
        for partner_id in partner_ids:
            pipe.publish(stream_channel(partner_id), "1")
        pipe.execute()
    except Exception:
        logger.exception("could not wake event streams (they still poll at each heartbeat)")


# --- relay: events → deliveries ------------------------------------------------------------------


def event_relay(*, event_pks: list[int]) -> list[str]:
    """Create the deliveries of numbered partner events for their matching active subscriptions.

    Idempotent: an event is relayed once (`relayed_at`), a delivery exists once per (subscription,
    event). Returns the ids of the deliveries enqueued for a first attempt.
    """
    now = timezone.now()
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update(skip_locked=True).filter(
                pk__in=event_pks, replay_id__isnull=False, relayed_at__isnull=True, partner__isnull=False
            )
        )
        if not events:
            return []
        subscriptions = defaultdict(list)
        for subscription in Subscription.objects.filter(
            partner_id__in={e.partner_id for e in events}, is_active=True
        ):
            subscriptions[subscription.partner_id].append(subscription)
        deliveries = [
            Delivery(subscription=s, event=e, next_attempt_at=now, window_started_at=now)
            for e in events
            for s in subscriptions[e.partner_id]
            if s.matches(e.type)
        ]
        Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        Event.objects.filter(pk__in=[e.pk for e in events]).update(relayed_at=now)
        delivery_ids = [
            str(pk)
            for pk in Delivery.objects.filter(
                event_id__in=[e.pk for e in events], status=DeliveryStatus.PENDING, attempt_count=0
            ).values_list("pk", flat=True)
        ]
        transaction.on_commit(partial(_enqueue_deliveries, delivery_ids), robust=True)
    return delivery_ids


def _enqueue_deliveries(delivery_ids: list[str], countdown: float | None = None) -> None:
    from .tasks import delivery_attempt_task

    if countdown is not None and delivery_attempt_task.app.conf.task_always_eager:
        # Eager Celery (the embedded default) ignores countdowns: retrying inline would spin on a
        # dead endpoint. The retry stays due in the database and the sweep picks it up.
        return
    for delivery_id in delivery_ids:
        delivery_attempt_task.apply_async((delivery_id,), countdown=countdown)


# --- webhook delivery ------------------------------------------------------------------------------


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>` — the CCP-Signature header."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def retry_delay(attempt_count: int) -> float:
    """Exponential backoff with jitter after the n-th failed attempt (n ≥ 1): base·2^(n-1), capped,
    then a random factor in [0.5, 1] so that a partner coming back is not hit by a synchronized wave."""
    base = float(settings.EVENTS_DELIVERY_BACKOFF_BASE_SECONDS)
    cap = float(settings.EVENTS_DELIVERY_BACKOFF_MAX_SECONDS)
    delay = min(cap, base * (2 ** min(attempt_count - 1, 40)))
    return delay * random.uniform(0.5, 1.0)


_sessions = threading.local()


def _session_for(subscription: Subscription) -> requests.Session:
    """A keep-alive session per endpoint, per worker thread (a connection cache, not shared state)."""
    cache = getattr(_sessions, "by_subscription", None)
    if cache is None:
        cache = _sessions.by_subscription = {}
    session = cache.get(subscription.pk)
    if session is None:
        session = cache[subscription.pk] = requests.Session()
        session.trust_env = False  # never route partner webhooks through an environment proxy
    return session


def _post(delivery: Delivery) -> tuple[int | None, str, int]:
    """POST the envelope once; returns (status code or None, error text, latency in ms)."""
    subscription = delivery.subscription
    try:
        webhook_url_check(subscription.url, resolve=True, strict=True)
    except Invalid as exc:
        return None, f"refused: {exc.message}"[:500], 0
    body = json.dumps(event_envelope(delivery.event), separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ccp-webhooks/1",
        "CCP-Event-Id": str(delivery.event.replay_id),
        "CCP-Timestamp": timestamp,
        "CCP-Signature": webhook_signature(subscription.secret, timestamp, body),
        "CCP-Delivery-Id": str(delivery.pk),
    }
    started = time.monotonic()
    try:
        response = _session_for(subscription).post(
            subscription.url,
            data=body,
            headers=headers,
            timeout=(settings.EVENTS_DELIVERY_CONNECT_TIMEOUT, settings.EVENTS_DELIVERY_READ_TIMEOUT),
            allow_redirects=False,
            stream=True,
        )
        try:
            response.raw.read(65536)  # bounded: a partner's answer body is not ours to hoard
        finally:
            response.close()
    except requests.Timeout:
        return None, "timeout", _ms_since(started)
    except requests.ConnectionError as exc:
        return None, f"connection error: {_short(exc)}", _ms_since(started)
    except requests.RequestException as exc:
        return None, f"request error: {_short(exc)}", _ms_since(started)
    latency = _ms_since(started)
    if 200 <= response.status_code < 300:
        return response.status_code, "", latency
    return response.status_code, f"HTTP {response.status_code}", latency


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _short(exc: Exception) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:400]


def delivery_attempt(*, delivery_id) -> Delivery | None:
    """Try one delivery once, if it is due and nobody else holds it; record the attempt and decide.

    2xx → delivered. Anything else → retrying after `retry_delay`, or a dead letter once its retry
    window (`EVENTS_DELIVERY_RETRY_WINDOW`, ≥ 24 h) has passed. The HTTP call runs outside any
    transaction; a claim (`claimed_until`) keeps a duplicate task from sending concurrently.
    """
    now = timezone.now()
    claim_for = timedelta(seconds=settings.EVENTS_DELIVERY_CLAIM_SECONDS)
    claimed = (
        Delivery.objects.filter(
            pk=delivery_id,
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING],
            next_attempt_at__lte=now + timedelta(seconds=1),
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + claim_for)
    )
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("subscription", "event__tenant").filter(pk=delivery_id).first()
    if delivery is None:  # its subscription was removed meanwhile
        return None
    attempted_at = timezone.now()
    status_code, error, latency = _post(delivery)
    succeeded = status_code is not None and 200 <= status_code < 300
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            attempted_at=attempted_at,
            status_code=status_code,
            error=error,
            latency_ms=latency,
            succeeded=succeeded,
        )
        delivery.attempt_count += 1
        delivery.claimed_until = None
        finished = timezone.now()
        delay = None
        if succeeded:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = finished
        elif finished - delivery.window_started_at >= settings.EVENTS_DELIVERY_RETRY_WINDOW:
            delivery.status = DeliveryStatus.DEAD
        else:
            delay = retry_delay(delivery.attempt_count)
            delivery.status = DeliveryStatus.RETRYING
            delivery.next_attempt_at = finished + timedelta(seconds=delay)
        delivery.save(
            update_fields=["attempt_count", "claimed_until", "status", "delivered_at", "next_attempt_at"]
        )
        if delay is not None:
            transaction.on_commit(partial(_enqueue_deliveries, [str(delivery.pk)], delay), robust=True)
    return delivery


def delivery_redeliver(*, delivery: Delivery) -> Delivery:
    """Send a delivered or dead delivery again, with a fresh retry window."""
    now = timezone.now()
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if locked.status not in (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD):
            raise Conflict(
                "This delivery is still being attempted; redeliver it once it is delivered or dead.",
                code="delivery_in_progress",
                details={"status": locked.status},
            )
        locked.status = DeliveryStatus.PENDING
        locked.next_attempt_at = now
        locked.window_started_at = now
        locked.claimed_until = None
        locked.save(update_fields=["status", "next_attempt_at", "window_started_at", "claimed_until"])
        transaction.on_commit(partial(_enqueue_deliveries, [str(locked.pk)]), robust=True)
    return locked


# --- subscriptions --------------------------------------------------------------------------------


def webhook_url_check(url: str, *, resolve: bool, strict: bool = False) -> None:
    """Refuse webhook URLs that are not https (http only for loopback) or that reach private networks.

    Loopback is allowed only with `WEBHOOK_ALLOW_LOOPBACK` (DEBUG, tests, demo). With `resolve` the
    host name is resolved and every address checked; `strict` also refuses a name that does not
    resolve (at delivery time; at creation a name may legitimately not resolve yet).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 — raises ValueError on a bad port
    except ValueError:
        host = None
    if not isinstance(url, str) or parts.scheme not in ("http", "https") or not host:
        raise Invalid("The URL must be an absolute https URL.", code="invalid_url", details={"url": url})
    if parts.username or parts.password:
        raise Invalid("The URL must not carry credentials.", code="invalid_url", details={"url": url})
    host = host.rstrip(".").lower()
    local_name = host == "localhost" or host.endswith(".localhost")
    literal = _ip_or_none(host)
    if parts.scheme == "http" and not (local_name or (literal is not None and literal.is_loopback)):
        raise Invalid(
            "Webhook URLs must use https (plain http is accepted only for localhost).",
            code="insecure_url",
            details={"url": url},
        )
    if literal is not None:
        addresses = [literal]
    elif local_name:
        addresses = [ipaddress.ip_address("127.0.0.1")]
    elif resolve:
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
            addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        except (OSError, ValueError):
            if strict:
                raise Invalid(f"The host {host} does not resolve.", code="unresolvable_host") from None
            addresses = []
    else:
        addresses = []
    for address in addresses:
        _check_address(address, url)


def _ip_or_none(host: str):
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _check_address(address, url: str) -> None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        if settings.WEBHOOK_ALLOW_LOOPBACK:
            return
        raise Invalid("The URL points at a loopback address.", code="private_address", details={"url": url})
    if (
        address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network("100.64.0.0/10"))
    ):
        raise Invalid(
            f"The URL points at a private or reserved address ({address}); webhooks must reach the "
            f"public internet.",
            code="private_address",
            details={"url": url, "address": str(address)},
        )


def _clean_event_types(event_types) -> list[str]:
    if not isinstance(event_types, list) or not event_types:
        raise Invalid(
            'event_types must be a non-empty list of event types, or ["*"] for all.',
            code="invalid_event_types",
        )
    unknown = [
        t
        for t in event_types
        if not isinstance(t, str) or not (t == ALL_EVENTS or is_standard_type(t) or is_custom_type_name(t))
    ]
    if unknown:
        raise Invalid(
            f"Unknown event type(s): {', '.join(map(str, unknown[:10]))}. Use standard types (see "
            f'docs/events.md), your packages\' custom types (Name__e) or "*".',
            code="unknown_event_type",
            details={"event_types": [str(t)[:100] for t in unknown[:50]]},
        )
    return sorted(set(event_types))


@transaction.atomic
def subscription_create(*, partner: Partner, url: str, event_types: list[str]) -> tuple[Subscription, str]:
    """A webhook of the partner; returns it and its signing secret (shown to the partner only once)."""
    types = _clean_event_types(event_types)
    webhook_url_check(url, resolve=True)
    secret = f"whsec_{secrets.token_hex(32)}"
    subscription = Subscription.objects.create(partner=partner, url=url, event_types=types, secret=secret)
    return subscription, secret


def subscription_delete(*, subscription: Subscription) -> None:
    """Remove a webhook with its deliveries; queued attempts for it find nothing and stop."""
    subscription.delete()


# --- maintenance (Celery beat) --------------------------------------------------------------------


def events_sweep() -> dict:
    """Finish fan-outs that were lost between commit and enqueue (crash, killed worker, broker down).

    Older than `EVENTS_SWEEP_GRACE_SECONDS`: committed events still without a replay id are numbered
    and fanned out; numbered partner events never relayed are relayed; due deliveries whose task was
    lost are enqueued again (a claim prevents a duplicate task from sending concurrently).
    """
    now = timezone.now()
    before = now - timedelta(seconds=settings.EVENTS_SWEEP_GRACE_SECONDS)
    batch = settings.EVENTS_SWEEP_BATCH
    unassigned = list(
        Event.objects.filter(replay_id__isnull=True, occurred_at__lte=before)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch]
    )
    numbered = event_fan_out(event_pks=unassigned) if unassigned else []
    unrelayed = list(
        Event.objects.filter(
            replay_id__isnull=False, relayed_at__isnull=True, partner__isnull=False, occurred_at__lte=before
        )
        .order_by("replay_id")
        .values_list("pk", flat=True)[:batch]
    )
    relayed = event_relay(event_pks=unrelayed) if unrelayed else []
    stuck = [
        str(pk)
        for pk in Delivery.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], next_attempt_at__lte=before
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch]
    ]
    _enqueue_deliveries(stuck)
    return {"numbered": len(numbered), "relayed_deliveries": len(relayed), "requeued": len(stuck)}


def events_prune() -> int:
    """Delete events older than `EVENTS_RETENTION`; raise the watermark that makes old cursors 410."""
    cutoff = timezone.now() - settings.EVENTS_RETENTION
    with transaction.atomic():
        # Raise the watermark first: from this commit on, cursors below it are refused (410), so
        # readers never get a page with holes while the rows below are being deleted.
        mark, _ = ReplayWatermark.objects.select_for_update().get_or_create(pk=1)
        through = Event.objects.filter(occurred_at__lt=cutoff, replay_id__isnull=False).aggregate(
            m=Max("replay_id")
        )["m"]
        if through is not None and through > mark.pruned_through:
            mark.pruned_through = through
            mark.save(update_fields=["pruned_through", "updated_at"])
        through = mark.pruned_through
    deleted = 0
    while True:  # in chunks: short transactions, bounded memory for the cascade to deliveries
        chunk = list(Event.objects.filter(replay_id__lte=through).values_list("pk", flat=True)[:5000])
        if not chunk:
            return deleted
        with transaction.atomic():
            deleted += Event.objects.filter(pk__in=chunk).delete()[1].get("events.Event", 0)
