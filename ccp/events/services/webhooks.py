"""Webhooks: relay events into deliveries, sign and POST them, retry, dead letters, subscriptions."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import random
import secrets
import socket
import threading
import time
from collections import defaultdict
from datetime import timedelta
from urllib.parse import urlsplit

import requests
import requests.adapters
import urllib3
import urllib3.connection
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ccp.audit.services import audit_record
from ccp.core.db import on_commit_robust
from ccp.core.errors import Conflict, Invalid
from ccp.core.redis import redis_client
from ccp.core.redis_health import redis_failed, redis_skipping
from ccp.packages.models import Partner

from ..choices import ALL_EVENTS, DeliveryStatus, is_custom_type_name, is_standard_type
from ..models import Delivery, DeliveryAttempt, Event, Subscription
from ..selectors import event_envelope
from ..tasks import delivery_attempt_task
from .pinning import PinnedAddressAdapter, session_pin

logger = logging.getLogger(__name__)

# --- relay: events → deliveries ------------------------------------------------------------------


def event_relay(*, event_pks: list[int], deliver_now: bool = False) -> list[str]:
    """Create the deliveries of numbered partner events for their matching active subscriptions.

    Idempotent: an event is relayed once (`relayed_at`), a delivery exists once per (subscription,
    event). Returns the ids of the deliveries created for a first attempt. `deliver_now` (the relay
    task): make the first attempts right here after commit instead of one more Celery task each —
    that hop cost about a third of an agent reply's worker time (docs/performance.md).
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
        for subscription in Subscription.objects.filter(partner_id__in={e.partner_id for e in events}, is_active=True):
            subscriptions[subscription.partner_id].append(subscription)
        deliveries = [
            Delivery(subscription=s, event=e, next_attempt_at=now, window_started_at=now)
            for e in events
            for s in subscriptions[e.partner_id]
            if s.matches(e.type)
        ]
        if deliver_now and deliveries:  # claimed from birth: no task nor sweep sends them while we do
            claim = now + timedelta(seconds=settings.EVENTS_DELIVERY_CLAIM_SECONDS)
            # one partner's only: another partner's first attempt must not wait behind its endpoint
            first_partner = deliveries[0].subscription.partner_id
            for delivery in deliveries[:INLINE_DELIVERIES]:
                if delivery.subscription.partner_id == first_partner:
                    delivery.claimed_until = claim
        Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        Event.objects.filter(pk__in=[e.pk for e in events]).update(relayed_at=now)
        created = list(
            Delivery.objects.filter(event_id__in=[e.pk for e in events], status=DeliveryStatus.PENDING, attempt_count=0)
            .select_related("subscription", "event__tenant")
            .order_by("event_id")
        )
        if deliver_now:
            mine = [d for d in created if d.claimed_until is not None]
            rest = [str(d.pk) for d in created if d.claimed_until is None]
            on_commit_robust(_deliver_inline, mine, rest)
        else:
            on_commit_robust(deliveries_enqueue, [str(d.pk) for d in created])
    return [str(d.pk) for d in created]


INLINE_DELIVERIES = 20


def _deliver_inline(claimed: list[Delivery], rest: list[str]) -> None:
    """First attempts in the relaying worker, in event order, on the rows it claimed when it created
    them (no claim and re-read per delivery); beyond a few, the rest go to tasks so that one busy
    relay does not hold a worker thread for long."""
    for i, delivery in enumerate(claimed):
        try:
            done = _attempt(delivery)
        except Exception:  # its claim expires and the sweep sends it again
            logger.exception("first attempt of delivery %s failed", delivery.pk)
            continue
        if done.status != DeliveryStatus.DELIVERED:
            # the endpoint is failing, slow or at its concurrency limit: the rest go through tasks
            # (backoff, attempt slots) instead of holding this thread for one deadline each
            left = [d.pk for d in claimed[i + 1 :]]
            Delivery.objects.filter(pk__in=left).update(claimed_until=None)
            rest = [str(pk) for pk in left] + rest
            break
    deliveries_enqueue(rest)


def deliveries_enqueue(delivery_ids: list[str], countdown: float | None = None) -> None:
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
        adapter = _DeadlineAdapter()  # only to the checked addresses, and cut at the deadline
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


# --- one total deadline per attempt ----------------------------------------------------------------
# requests' timeouts bound each socket operation, not the attempt: a receiver trickling a byte every
# few seconds (headers or body) never trips them. Each attempt therefore registers with a watchdog
# thread, and the connection it sends on records itself; at the deadline the watchdog shuts the
# socket down, which wakes the blocked read at once and frees the worker thread.

_attempt_local = threading.local()


class _Attempt:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.connection = None
        self.expired = False
        self.finished = False

    def cut(self) -> bool:
        """Shut the attempt's socket down; False while it has none yet (still connecting)."""
        self.expired = True
        sock = getattr(self.connection, "sock", None)
        if sock is None:
            return False
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        return True


class _TrackedConnectionMixin:
    def request(self, *args, **kwargs):
        attempt = getattr(_attempt_local, "current", None)
        if attempt is not None:
            attempt.connection = self
        return super().request(*args, **kwargs)


class _TrackedHTTPConnection(_TrackedConnectionMixin, urllib3.connection.HTTPConnection):
    pass


class _TrackedHTTPSConnection(_TrackedConnectionMixin, urllib3.connection.HTTPSConnection):
    pass


class _TrackedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class _DeadlineAdapter(PinnedAddressAdapter):
    """Connects only to the checked address (pinning.py); its pools hand each socket to the watchdog."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _TrackedHTTPPool, "https": _TrackedHTTPSPool}


class _Watchdog:
    """One daemon thread per process that cuts attempts at their deadline."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.attempts: list[_Attempt] = []
        self.wakeup = threading.Condition()
        threading.Thread(target=self._run, name="ccp-webhook-watchdog", daemon=True).start()

    def watch(self, attempt: _Attempt) -> None:
        with self.wakeup:
            self.attempts.append(attempt)
            self.wakeup.notify()

    def _run(self) -> None:
        while True:
            with self.wakeup:
                self.attempts = [a for a in self.attempts if not a.finished]
                now = time.monotonic()
                for attempt in self.attempts:
                    if attempt.deadline <= now and attempt.cut():
                        attempt.finished = True  # cut once; a connecting one is retried below
                pending = [a.deadline for a in self.attempts if not a.finished]
                # a cut attempt still connecting (no socket yet) is looked at again shortly
                wait = max(0.02, min(pending) - now) if pending else None
                self.wakeup.wait(timeout=wait)


_watchdog_lock = threading.Lock()
_watchdog_instance: _Watchdog | None = None


def _watchdog() -> _Watchdog:
    global _watchdog_instance
    with _watchdog_lock:
        if _watchdog_instance is None or _watchdog_instance.pid != os.getpid():
            _watchdog_instance = _Watchdog()  # threads do not survive a fork
        return _watchdog_instance


def _post(delivery: Delivery) -> tuple[int | None, str, int]:
    """POST the envelope once; returns (status code or None, error text, latency in ms)."""
    subscription = delivery.subscription
    try:
        addresses = webhook_url_check(subscription.url, resolve=True, strict=True)
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
    deadline = float(settings.EVENTS_DELIVERY_DEADLINE_SECONDS)
    attempt = _Attempt(started + deadline)
    _attempt_local.current = attempt
    _watchdog().watch(attempt)
    status_code = None
    try:
        session = _session_for(subscription)
        session_pin(session, subscription.url, addresses)  # connect to what was checked (no 2nd DNS answer)
        response = session.post(
            subscription.url,
            data=body,
            headers=headers,
            timeout=(
                min(settings.EVENTS_DELIVERY_CONNECT_TIMEOUT, deadline),
                min(settings.EVENTS_DELIVERY_READ_TIMEOUT, deadline),
            ),
            allow_redirects=False,
            stream=True,
        )
        status_code = response.status_code
        try:
            # Bounded in size (a partner's answer is not ours to hoard) and, by the watchdog, in time.
            read = 0
            for chunk in response.iter_content(chunk_size=4096):
                read += len(chunk)
                if read >= 65536 or time.monotonic() >= attempt.deadline:
                    break
        finally:
            response.close()
    except Exception as exc:  # every failure is an attempt with its error, never an escape
        if attempt.expired or time.monotonic() >= attempt.deadline:
            return status_code, f"deadline of {deadline:g} s exceeded", _ms_since(started)
        if isinstance(exc, requests.Timeout):
            return None, "timeout", _ms_since(started)
        if isinstance(exc, requests.ConnectionError):
            return None, f"connection error: {_short(exc)}", _ms_since(started)
        if isinstance(exc, requests.RequestException):
            return None, f"request error: {_short(exc)}", _ms_since(started)
        return status_code, f"error: {_short(exc)}", _ms_since(started)
    finally:
        attempt.finished = True
        _attempt_local.current = None
    latency = _ms_since(started)
    if attempt.expired or time.monotonic() >= attempt.deadline:
        # the answer did not complete in time (e.g. a body trickled after the headers): not delivered
        return status_code, f"deadline of {deadline:g} s exceeded", latency
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
    return _attempt(delivery)


def _attempt(delivery: Delivery) -> Delivery:
    """POST a claimed delivery once and record the outcome (the claim is released).

    At most `EVENTS_DELIVERY_PARTNER_CONCURRENCY` attempts per partner are in flight across all
    workers: beyond that (after `EVENTS_DELIVERY_PARTNER_WAIT_SECONDS` of waiting for a slot) the
    delivery is put back for a moment, unattempted, so that one partner's
    slow endpoint holds a bounded number of worker threads and never delays the other partners.
    """
    slot = _partner_slot_acquire(delivery.subscription.partner_id)
    # A prompt partner's slot frees within milliseconds: wait a moment before putting it back.
    waited_until = time.monotonic() + float(settings.EVENTS_DELIVERY_PARTNER_WAIT_SECONDS)
    while slot is None and time.monotonic() < waited_until:
        time.sleep(0.01)
        slot = _partner_slot_acquire(delivery.subscription.partner_id)
    if slot is None:
        return _defer(delivery)
    try:
        attempted_at = timezone.now()
        status_code, error, latency = _post(delivery)
    finally:
        _partner_slot_release(delivery.subscription.partner_id, slot)
    return _record(delivery, attempted_at, status_code, error, latency)


def _defer(delivery: Delivery) -> Delivery:
    """The partner's attempt slots are full: ask again after a jittered pause (not an attempt)."""
    delay = float(settings.EVENTS_DELIVERY_PARTNER_DEFER_SECONDS) * random.uniform(1.0, 2.0)
    delivery.claimed_until = None
    delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    Delivery.objects.filter(pk=delivery.pk).update(claimed_until=None, next_attempt_at=delivery.next_attempt_at)
    deliveries_enqueue([str(delivery.pk)], delay)
    return delivery


# Redis's own clock, so that workers on machines with skewed clocks agree on when a slot lapses.
_SLOT_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
    redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 60)
    return 1
end
return 0
"""


def _slots_client():
    return redis_client(timeout=2, connect_timeout=2)


def _partner_slot_acquire(partner_id) -> str | None:
    """A token holding one of the partner's attempt slots (a Redis sorted set of tokens scored by
    when they lapse, so a killed worker's slots free themselves), or None when all are taken.
    Without Redis (the embedded default) or with Redis down, there is no limit: deliver anyway."""
    limit = int(settings.EVENTS_DELIVERY_PARTNER_CONCURRENCY)
    token = secrets.token_hex(8)
    if not settings.REDIS_URL or limit <= 0 or redis_skipping():
        return token
    # The watchdog ends every attempt by its deadline; the margin covers recording it. A killed
    # worker's slots are free again after this long.
    lapse = float(settings.EVENTS_DELIVERY_DEADLINE_SECONDS) + 2
    try:
        got = _slots_client().eval(_SLOT_ACQUIRE, 1, _slots_key(partner_id), limit, lapse, token)
    except Exception as exc:
        redis_failed("webhook attempt slots", exc)
        return token
    return token if got else None


def _partner_slot_release(partner_id, token: str) -> None:
    if not settings.REDIS_URL or redis_skipping():
        return
    try:
        _slots_client().zrem(_slots_key(partner_id), token)
    except Exception as exc:  # the slot lapses on its own
        redis_failed("webhook attempt slots", exc)


def _slots_key(partner_id) -> str:
    return f"{settings.EVENTS_REDIS_PREFIX}:webhook-slots:{partner_id}"


def _record(delivery: Delivery, attempted_at, status_code: int | None, error: str, latency: int) -> Delivery:
    succeeded = status_code is not None and 200 <= status_code < 300 and not error
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
        delivery.save(update_fields=["attempt_count", "claimed_until", "status", "delivered_at", "next_attempt_at"])
        if delay is not None:
            on_commit_robust(deliveries_enqueue, [str(delivery.pk)], delay)
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
        on_commit_robust(deliveries_enqueue, [str(locked.pk)])
    return locked


# --- subscriptions --------------------------------------------------------------------------------


def webhook_url_check(url: str, *, resolve: bool, strict: bool = False) -> list:
    """Refuse webhook URLs that are not https (http only for loopback) or that reach private networks.

    Loopback is allowed only with `WEBHOOK_ALLOW_LOOPBACK` (DEBUG, tests, demo). With `resolve` the
    host name is resolved and every address checked; `strict` also refuses a name that does not
    resolve (at delivery time; at creation a name may legitimately not resolve yet). Returns the
    addresses checked, which the sender pins its connection to (`pinning`).
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
    return addresses


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
            f"The URL points at a private or reserved address ({address}); webhooks must reach the public internet.",
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
    audit_record(
        action="subscription.created",
        obj=subscription,
        object_repr=f"{partner.name}: {url}"[:200],
        after={"partner": str(partner.pk), "url": url, "event_types": types},
    )
    return subscription, secret


def subscription_delete(*, subscription: Subscription) -> None:
    """Remove a webhook with its deliveries; queued attempts for it find nothing and stop."""
    audit_record(
        action="subscription.deleted",
        obj=subscription,
        object_repr=f"{subscription.url}"[:200],
        before={
            "partner": str(subscription.partner_id),
            "url": subscription.url,
            "event_types": subscription.event_types,
        },
    )
    subscription.delete()
