"""`GET /api/v1/events/stream/`: the partner's events as Server-Sent Events, served by ASGI (daphne).

An async view, so an idle stream costs a coroutine, not a worker thread: it waits on a Redis pub/sub
message (published by the fan-out after commit) or the heartbeat timeout, then reads the next page in
a short sync call that closes its database connection, so an idle stream holds none. The cursor is
`Last-Event-ID` (sent by EventSource on reconnect) or `?after=`; `id:` lines carry replay ids.
"""

from __future__ import annotations

import asyncio
import json
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse

from ccp.core.api import error_body, status_for
from ccp.core.errors import DomainError
from ccp.packages.selectors import bearer_from_header, bearer_grant

from .. import selectors
from ..models import Event
from ..services import stream_channel

REQUIRED_SCOPE = "events"


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


def _open(request: HttpRequest) -> tuple[object, int] | JsonResponse:
    """Authenticate the bearer token and resolve the start cursor; (partner id, cursor) or an error."""
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
        header = request.headers.get("Last-Event-ID")
        after = (
            selectors.parse_cursor(header, name="Last-Event-ID")
            if header
            else selectors.parse_cursor(request.GET.get("after"))
        )
        start = selectors.replay_start(partner=grant.partner, after=after)
        return grant.partner.pk, start
    except DomainError as exc:
        return _error(exc.code, exc.message, status_for(exc), exc.details)
    finally:
        _release_connection()


def _read(partner_id, after: int, limit: int) -> list[str]:
    """The next page as SSE frames; the connection is closed before the stream waits again."""
    try:
        events = (
            Event.objects.filter(partner_id=partner_id, replay_id__gt=after)
            .select_related("tenant")
            .order_by("replay_id")[:limit]
        )
        return [
            f"id: {e.replay_id}\ndata: {json.dumps(selectors.event_envelope(e), separators=(',', ':'))}\n\n"
            for e in events
        ]
    finally:
        _release_connection()


async def _frames(partner_id, after: int):
    heartbeat = float(settings.EVENTS_STREAM_HEARTBEAT_SECONDS)
    page = int(settings.EVENTS_STREAM_PAGE)
    client = pubsub = None
    if settings.REDIS_URL:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(settings.REDIS_URL)
        pubsub = client.pubsub()
        # Subscribe before the first read: a wake-up published in between waits in the buffer.
        await pubsub.subscribe(stream_channel(partner_id))
    try:
        yield f"retry: 3000\n: connected, after {after}\n\n"
        last_sent = time.monotonic()
        while True:
            frames = await sync_to_async(_read)(partner_id, after, page)
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
        if pubsub is not None:
            await pubsub.aclose()
            await client.aclose()


async def event_stream(request: HttpRequest):
    """Server-Sent Events of the partner's events (scope `events`)."""
    if request.method != "GET":
        return _error("method_not_allowed", f'Method "{request.method}" not allowed.', 405)
    opened = await sync_to_async(_open)(request)
    if isinstance(opened, JsonResponse):
        return opened
    partner_id, after = opened
    response = StreamingHttpResponse(_frames(partner_id, after), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
