"""`GET /api/v1/events/stream/`: the partner's events as Server-Sent Events, served by ASGI (daphne).

An async view, so an idle stream costs a coroutine, not a worker thread: it waits on a Redis pub/sub
message (published by the fan-out after commit) or the heartbeat timeout, then reads the next page in
a short sync call that closes its database connection, so an idle stream holds none. The cursor is
`Last-Event-ID` (sent by EventSource on reconnect) or `?after=`; `id:` lines carry replay ids.

The token is re-checked with every page read (after the read, so an event committed after a
revocation is never sent) and at least every `EVENTS_STREAM_RECHECK_SECONDS` when idle; a revoked
or expired token, a removed `events` scope or a deactivated connected app ends the stream. A
revocation also wakes the partner's streams (`ccp.events.apps`), so they close at once. A partner
holds at most `EVENTS_STREAM_MAX_PER_PARTNER` streams: slots are leases in a Redis sorted set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from types import SimpleNamespace

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse

from ccp.core.api import error_body, status_for
from ccp.core.errors import DomainError
from ccp.packages.api.base import PartnerPrincipal, PartnerRateThrottle
from ccp.packages.selectors import bearer_from_header, bearer_grant, grant_still_allows, grants_still_allowing

from .. import selectors
from ..services import stream_channel

REQUIRED_SCOPE = "events"
logger = logging.getLogger(__name__)


def _error(code: str, message: str, http_status: int, details=None) -> JsonResponse:
    response = JsonResponse(error_body(code, message, details), status=http_status)
    if http_status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="ccp"'
    return response


def _release_connection() -> None:
    """Give the database connection back while the stream idles (never inside a caller's atomic
    block: the sync test client runs this view on the test's own connection)."""
    if not connection.in_atomic_block:
        connection.close()


def _open(request: HttpRequest) -> tuple[object, int, int] | JsonResponse:
    """Authenticate the bearer token and resolve the start cursor; (partner id, token id, cursor)
    or an error."""
    try:
        grant = bearer_grant(bearer_from_header(request.headers.get("Authorization")))
        if grant is None:
            return _error(
                "not_authenticated",
                "Authentication is required: send 'Authorization: Bearer <token>' with a valid, unexpired "
                "token from POST /o/token/.",
                401,
            )
        if not grant.token.allow_scopes([REQUIRED_SCOPE]):
            return _error(
                "insufficient_scope",
                f"This token lacks the scope(s) {REQUIRED_SCOPE}; request a token for a connected app that "
                f"was granted them.",
                403,
            )
        # Opening a stream counts against PARTNER_RATE_LIMIT like any partner call.
        throttle = PartnerRateThrottle()
        caller = SimpleNamespace(user=PartnerPrincipal(partner=grant.partner, connected_app=grant.connected_app))
        if not throttle.allow_request(caller, None):
            wait = int(throttle.wait())
            response = _error("rate_limited", f"Too many requests; retry in {wait} s.", 429, {"retry_after": wait})
            response["Retry-After"] = str(wait)
            return response
        header = request.headers.get("Last-Event-ID")
        after = (
            selectors.parse_cursor(header, name="Last-Event-ID")
            if header
            else selectors.parse_cursor(request.GET.get("after"))
        )
        start = selectors.replay_start(partner=grant.partner, after=after)
        return grant.partner.pk, grant.token.pk, start
    except DomainError as exc:
        return _error(exc.code, exc.message, status_for(exc), exc.details)
    finally:
        _release_connection()


def _read(partner_id, token_id: int, after: int, limit: int) -> list[str] | None:
    """The next page as SSE frames, or None when the token no longer allows the stream. The token
    is checked after the read: whatever was read committed before the check, so nothing committed
    after a revocation is sent. The connection is closed before the stream waits again."""
    try:
        events = selectors.event_page(partner_id=partner_id, after=after, limit=limit)
        if not grant_still_allows(token_id=token_id, scope=REQUIRED_SCOPE):
            return None
        return [
            f"id: {e.replay_id}\ndata: {json.dumps(selectors.event_envelope(e), separators=(',', ':'))}\n\n"
            for e in events
        ]
    finally:
        _release_connection()


# KEYS[1]: the partner's sorted set of stream leases (member: stream id, score: lease end).
# ARGV: now, lease end, stream id, cap, key ttl. Drops expired leases, then adds this one unless the
# partner already holds `cap` live ones. 1 taken, 0 refused.
_TAKE_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class _StreamSlots:
    """At most EVENTS_STREAM_MAX_PER_PARTNER open streams per partner, across server processes.

    Each stream holds a lease (renewed at each re-check, released when it ends); a process that dies
    leaves leases that expire after EVENTS_STREAM_LEASE_SECONDS. Without Redis (the embedded default,
    one process) the count is kept in this process.
    """

    _local: dict = {}
    _local_lock = threading.Lock()

    def __init__(self, client, partner_id) -> None:
        self.client = client
        self.partner_id = partner_id
        self.key = f"{settings.EVENTS_REDIS_PREFIX}:streams:{partner_id}"
        self.member = uuid.uuid4().hex
        self.held = False

    async def take(self) -> bool:
        cap = int(settings.EVENTS_STREAM_MAX_PER_PARTNER)
        if self.client is None:
            with self._local_lock:
                if self._local.get(self.partner_id, 0) >= cap:
                    return False
                self._local[self.partner_id] = self._local.get(self.partner_id, 0) + 1
        else:
            lease = float(settings.EVENTS_STREAM_LEASE_SECONDS)
            now = time.time()
            args = [now, now + lease, self.member, cap, int(lease) + 1]
            if not await self.client.eval(_TAKE_SLOT, 1, self.key, *args):
                return False
        self.held = True
        return True

    async def renew(self) -> None:
        if self.client is not None and self.held:
            lease = float(settings.EVENTS_STREAM_LEASE_SECONDS)
            pipe = self.client.pipeline(transaction=False)
            pipe.zadd(self.key, {self.member: time.time() + lease})
            pipe.expire(self.key, int(lease) + 1)
            await pipe.execute()

    async def release(self) -> None:
        if not self.held:
            return
        self.held = False
        if self.client is None:
            with self._local_lock:
                self._local[self.partner_id] = max(0, self._local.get(self.partner_id, 1) - 1)
        else:
            await self.client.zrem(self.key, self.member)


def _allowed_tokens(token_ids: list[int]) -> set[int]:
    try:
        return grants_still_allowing(token_ids=token_ids, scope=REQUIRED_SCOPE)
    finally:
        _release_connection()


class _StreamWatch:
    """The idle re-check of one server process's open streams (one per event loop): every
    `EVENTS_STREAM_RECHECK_SECONDS`, one query for all their tokens; a stream whose token no longer
    allows it is woken (its partner's Redis channel), reads, sees the refusal and ends. It also
    renews the streams' slot leases. One query per round however many streams, instead of a thread
    hop, two queries and a new database connection per stream and round."""

    _by_loop: dict = {}

    def __init__(self, loop) -> None:
        self.loop = loop
        self.streams: dict[str, tuple[int, object, _StreamSlots]] = {}
        self.task = loop.create_task(self._run())

    @classmethod
    def add(cls, key: str, token_id: int, partner_id, slots: _StreamSlots) -> None:
        loop = asyncio.get_running_loop()
        watch = cls._by_loop.get(loop)
        if watch is None or watch.task.done():
            watch = cls._by_loop[loop] = cls(loop)
        watch.streams[key] = (token_id, partner_id, slots)

    @classmethod
    def discard(cls, key: str) -> None:
        watch = cls._by_loop.get(asyncio.get_running_loop())
        if watch is not None:
            watch.streams.pop(key, None)
            if not watch.streams:
                cls._by_loop.pop(watch.loop, None)
                watch.task.cancel()

    async def _run(self) -> None:
        while self.streams:
            await asyncio.sleep(float(settings.EVENTS_STREAM_RECHECK_SECONDS))
            current = list(self.streams.items())
            try:
                allowed = await sync_to_async(_allowed_tokens)([token_id for _, (token_id, _, _) in current])
            except Exception:  # the database is away: the streams' own reads will tell
                logger.warning("event stream re-check failed; retrying", exc_info=True)
                continue
            woken = set()
            for key, (token_id, partner_id, slots) in current:
                if key not in self.streams:  # ended while we read
                    continue
                try:
                    if token_id not in allowed and partner_id not in woken and slots.client is not None:
                        woken.add(partner_id)
                        await slots.client.publish(stream_channel(partner_id), "recheck")
                    await slots.renew()
                except Exception:
                    logger.warning("could not wake or renew an event stream", exc_info=True)


async def _frames(partner_id, token_id: int, after: int, client, slots: _StreamSlots):
    heartbeat = float(settings.EVENTS_STREAM_HEARTBEAT_SECONDS)
    page = int(settings.EVENTS_STREAM_PAGE)
    pubsub = None
    try:
        _StreamWatch.add(slots.member, token_id, partner_id, slots)
        if client is not None:
            pubsub = client.pubsub()
            # Subscribe before the first read: a wake-up published in between waits in the buffer.
            await pubsub.subscribe(stream_channel(partner_id))
        yield f"retry: 3000\n: connected, after {after}\n\n"
        last_sent = time.monotonic()
        while True:
            frames = await sync_to_async(_read)(partner_id, token_id, after, page)
            if frames is None:
                yield ": closed: the token was revoked or has expired; request a new one\n\n"
                return
            for frame in frames:
                after = int(frame.split("\n", 1)[0][4:])
                yield frame
            if frames:
                last_sent = time.monotonic()
                if len(frames) >= page:
                    continue
            wait = max(0.0, heartbeat - (time.monotonic() - last_sent))
            if pubsub is not None:
                await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
            else:
                await asyncio.sleep(min(wait, 1.0))  # the embedded default has no Redis: poll
            if time.monotonic() - last_sent >= heartbeat:
                yield ": heartbeat\n\n"
                last_sent = time.monotonic()
    finally:
        _StreamWatch.discard(slots.member)
        try:
            if pubsub is not None:
                await pubsub.aclose()
            await slots.release()
        finally:
            if client is not None:
                await client.aclose()


async def event_stream(request: HttpRequest):
    """Server-Sent Events of the partner's events (scope `events`)."""
    if request.method != "GET":
        return _error("method_not_allowed", f'Method "{request.method}" not allowed.', 405)
    opened = await sync_to_async(_open)(request)
    if isinstance(opened, JsonResponse):
        return opened
    partner_id, token_id, after = opened
    client = None
    if settings.REDIS_URL:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(settings.REDIS_URL)
    slots = _StreamSlots(client, partner_id)
    if not await slots.take():
        if client is not None:
            await client.aclose()
        cap = settings.EVENTS_STREAM_MAX_PER_PARTNER
        response = _error(
            "too_many_streams",
            f"This partner already has {cap} open event stream(s), the limit; close one, or use a webhook "
            f"subscription, which has no such limit.",
            429,
            {"limit": cap},
        )
        response["Retry-After"] = str(int(settings.EVENTS_STREAM_RECHECK_SECONDS) + 1)
        return response
    response = StreamingHttpResponse(
        _frames(partner_id, token_id, after, client, slots), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
