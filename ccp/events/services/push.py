"""Agents' websocket pushes: the channel-layer hand-off of committed events, the long-lived publisher
thread that sends them in commit order, and the catch-up of pushes lost while Redis was down.

`publish._notify` calls `push_to_agents` once per committed batch. With the embedded (in-memory)
layer the push runs in the server's own loop; with Redis it is queued to this process's
`PushPublisher` and the request returns at once. Failed or skipped pushes are marked
`push_pending` and sent by `event_push_pending` (the outbox sweep).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from ccp.core.db import on_commit_robust
from ccp.core.redis_health import redis_failed, redis_recovered, redis_skipping

from ..models import Event
from ..selectors import event_envelope

logger = logging.getLogger(__name__)


def agent_group(membership_id) -> str:
    """The Channels group of one agent (a Membership)."""
    return f"agent.{membership_id}"


def monitor_group(conversation_id) -> str:
    """The Channels group of the supervisors' sockets monitoring one conversation (read-only)."""
    return f"monitor.{conversation_id}"


def push_to_agents(events: list[Event]) -> None:
    """One hand-off for the whole batch: group_send per (agent, event), in order."""
    messages = _agent_messages(events)
    if not messages:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        # The embedded default: the layer lives in the server's own event loop, so hop into it.
        try:
            async_to_sync(_send_all)(layer, messages)
        except Exception:
            logger.exception("websocket push of %d messages failed", len(messages))
        return
    pushed = [e.pk for e in events if e.agent_ids or _conversation_of(e) is not None]
    if redis_skipping():  # Redis down: do not queue pushes that will fail; the sweep sends them later
        _mark_push_pending(pushed)
        return
    push_publisher().submit(layer, messages, pushed)


def _conversation_of(event: Event) -> str | None:
    """The conversation a standard event is about (its `data.conversation_id`), for its monitors."""
    if "__" in event.type or not isinstance(event.data, dict):
        return None
    found = event.data.get("conversation_id")
    return found if isinstance(found, str) and found else None


def _agent_messages(events: list[Event]) -> list[tuple[str, dict]]:
    """The agents' pushes of `events`, and for an event about a conversation one to the supervisors
    monitoring it (group `monitor.<id>`; an unmonitored conversation's group is empty)."""
    messages: list[tuple[str, dict]] = []
    for event in events:
        conversation_id = _conversation_of(event)
        if not event.agent_ids and conversation_id is None:
            continue
        envelope = event_envelope(event)
        messages.extend(
            (agent_group(agent_id), {"type": "ccp.event", "event": envelope}) for agent_id in event.agent_ids
        )
        if conversation_id is not None:
            messages.append((monitor_group(conversation_id), {"type": "ccp.monitored", "event": envelope}))
    return messages


def push_frames_on_commit(frames: list[tuple[str, dict]]) -> None:
    """Send `frames` — (group, websocket frame) pairs — after the caller's transaction commits, outside
    the event bus: nothing is stored in the outbox, so no partner, replay or stream ever sees them
    (a conversation's internal notes and whispers). Best effort like every push: a frame lost to a
    Redis outage is not retried; what it announced is read again from the API on reload."""
    if frames:
        # what a websocket frame carries (UUIDs, datetimes as strings), and what msgpack can send
        on_commit_robust(push_frames, json.loads(json.dumps(frames, cls=DjangoJSONEncoder)))


def push_frames(frames: list[tuple[str, dict]]) -> None:
    push_messages([(group, {"type": "ccp.frame", "frame": frame}) for group, frame in frames])


def push_messages_on_commit(messages: list[tuple[str, dict]]) -> None:
    """Channel-layer messages ((group, {"type": "ccp.…", …})) sent after commit, outside the bus."""
    if messages:
        on_commit_robust(push_messages, json.loads(json.dumps(messages, cls=DjangoJSONEncoder)))


def push_messages(messages: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        try:
            async_to_sync(_send_all)(layer, messages)
        except Exception:
            logger.exception("websocket push of %d frames failed", len(messages))
        return
    if redis_skipping():
        logger.warning("Redis is down: %d websocket frames dropped", len(messages))
        return
    push_publisher().submit(layer, messages, [])


def _mark_push_pending(event_pks: list[int]) -> None:
    """Remember pushes that could not be sent (Redis down) for `event_push_pending` (the sweep)."""
    if event_pks:
        try:
            Event.objects.filter(pk__in=event_pks).update(push_pending=True)
        except Exception:  # the database is gone too: the workspace still catches up from replay
            logger.exception("could not mark %d events for a later push", len(event_pks))


def event_push_pending(*, batch: int) -> int:
    """Push the agents' events whose push failed while Redis was down, in replay order; returns how
    many were pushed (0 while Redis is still down). Pushes are at least once: the workspace dedupes
    frames by event id."""
    events = list(
        Event.objects.filter(push_pending=True, replay_id__isnull=False)
        .select_related("tenant")
        .order_by("replay_id")[:batch]
    )
    if not events:
        return 0
    layer = get_channel_layer()
    if layer is not None:
        messages = _agent_messages(events)
        try:
            async_to_sync(_send_all)(layer, messages)
        except Exception as exc:
            redis_failed("websocket push (sweep)", exc)
            return 0
        redis_recovered()
    Event.objects.filter(pk__in=[e.pk for e in events]).update(push_pending=False)
    return len(events)


async def _send_all(layer, messages: list[tuple[str, dict]]) -> None:
    for group, message in messages:
        await layer.group_send(group, message)


class PushPublisher:
    """A long-lived event loop in a daemon thread that sends this process's pushes, in order.

    `async_to_sync(group_send)` starts a loop and new Redis connections per call (≈ 6 ms of CPU per
    request, PERFORMANCE_NOTES.md); here the channel layer's connections stay open on one loop and
    the request only enqueues. Batches are sent one after another by a single task, so pushes keep
    commit order. Best effort like every notification: a push lost in a crash is caught up by the
    workspace from replay. At most `MAX_BACKLOG` batches wait; beyond that a push is dropped, logged.
    """

    MAX_BACKLOG = 10_000

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.ready = threading.Event()
        thread = threading.Thread(target=self._run, name="ccp-event-push", daemon=True)
        thread.start()
        self.ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.create_task(self._drain())
        self.ready.set()
        self.loop.run_forever()

    async def _drain(self) -> None:
        while True:
            layer, messages, event_pks = await self.queue.get()
            if redis_skipping():
                await sync_to_async(_mark_push_pending_closing, thread_sensitive=False)(event_pks)
                continue
            try:
                await _send_all(layer, messages)
            except Exception as exc:
                redis_failed("websocket push", exc)
                await sync_to_async(_mark_push_pending_closing, thread_sensitive=False)(event_pks)

    def submit(self, layer, messages: list[tuple[str, dict]], event_pks: list[int]) -> None:
        if self.queue.qsize() >= self.MAX_BACKLOG:
            logger.error("websocket push backlog full; %d messages left to the sweep", len(messages))
            _mark_push_pending(event_pks)
            return
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (layer, messages, event_pks))


def _mark_push_pending_closing(event_pks: list[int]) -> None:
    try:
        _mark_push_pending(event_pks)
    finally:
        connection.close()  # an executor thread of the publisher's loop: do not keep a connection


_instance_lock = threading.Lock()
_instance: PushPublisher | None = None


def push_publisher() -> PushPublisher:
    """This process's publisher (a forked worker starts its own: threads do not survive fork)."""
    global _instance
    current = _instance
    if current is None or current.pid != os.getpid():
        with _instance_lock:
            if _instance is None or _instance.pid != os.getpid():
                _instance = PushPublisher()
            current = _instance
    return current
