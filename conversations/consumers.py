"""The agent websocket /ws/agent/: pushes the agent's events; actions go through the REST agent API."""

import asyncio
import contextlib
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from redis.exceptions import RedisError

from ccp.events.services import monitor_group
from tenants.selectors import membership_for_user, memberships_for_sessions, session_membership_stands

logger = logging.getLogger(__name__)

# Close code the workspace reads as "your session ended" (log in again).
SESSION_ENDED = 4401


class AgentConsumer(AsyncJsonWebsocketConsumer):
    """Session-authenticated by AuthMiddlewareStack; joins the group `agent.<membership id>`.

    The principal is re-checked every `AGENT_SOCKET_RECHECK_SECONDS` (all of the process's sockets
    at once, `_SocketWatch`) and whenever the group gets a `ccp.recheck` message (sent on logout,
    membership removal, user or tenant deactivation — `conversations.receivers`): once the session
    or the membership has ended, the socket leaves the group, drops anything still queued for it
    and closes with 4401.
    """

    group: str | None = None
    membership_id = None
    session_key: str | None = None
    ended = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.monitoring: set[str] = set()  # conversation ids this socket monitors (supervisors)

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except (OSError, RedisError):
            # The channel layer (Redis) failed under this socket: close with 1013, try again later,
            # rather than an internal error; the workspace reconnects and catches up from the API.
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": 1013})

    async def connect(self):
        user = self.scope.get("user")
        membership = await database_sync_to_async(membership_for_user)(user=user) if user else None
        if membership is None:
            # Accept, then close with 4401: a close before the handshake reaches a browser as 1006,
            # and the workspace needs the code to say "your session ended".
            await self.accept()
            await self.close(code=SESSION_ENDED)
            return
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None)
        self.membership_id = membership.pk
        self.group = f"agent.{membership.pk}"
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
        except (OSError, RedisError):
            # The channel layer (Redis) is down: the websocket's "503". 1013 = try again later; the
            # workspace reconnects with backoff and re-reads its conversations (nothing is lost).
            self.group = None
            await self.accept()
            await self.close(code=1013)
            return
        await self.accept()
        await self.send_json(
            {"type": "hello", "data": {"agent_id": str(membership.pk), "tenant": membership.tenant.slug}}
        )
        _SocketWatch.add(self)

    async def disconnect(self, code):
        _SocketWatch.discard(self)
        await self._leave()

    async def _leave(self) -> None:
        if self.group:
            group, self.group = self.group, None
            await self.channel_layer.group_discard(group, self.channel_name)
        for conversation_id in list(self.monitoring):
            await self._unmonitor(conversation_id)

    async def _recheck(self) -> None:
        if self.ended:
            return
        stands = await database_sync_to_async(session_membership_stands)(
            session_key=self.session_key, membership_id=self.membership_id
        )
        if not stands:
            await self._end()
        elif self.monitoring:
            await self._recheck_monitoring()

    async def _recheck_monitoring(self) -> None:
        """A member whose role no longer supervises (changed while monitoring) leaves every monitor."""
        from .services.supervision import may_monitor

        if not await database_sync_to_async(may_monitor)(membership_id=self.membership_id):
            for conversation_id in list(self.monitoring):
                await self._unmonitor(conversation_id)
                await self.send_json({"type": "monitor.stopped", "data": {"conversation_id": conversation_id}})

    async def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        _SocketWatch.discard(self)
        await self._leave()
        await self.close(code=SESSION_ENDED)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """Frames are JSON objects; anything else gets an `error` frame and the socket stays open
        (a malformed frame used to kill the consumer: close 1011, and the agent's events with it)."""
        if text_data is None:
            await self._refuse("malformed_frame", "Frames are JSON text; binary frames are not accepted.")
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            await self._refuse("malformed_frame", "The frame is not valid JSON.")
            return
        if not isinstance(content, dict):
            await self._refuse("invalid_frame", 'A frame is a JSON object like {"type": "ping"}.')
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content, **kwargs):
        if self.ended:
            return
        kind = content.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong", "data": {}})
        elif kind in ("monitor", "unmonitor"):
            await self._monitor_frame(kind, content.get("conversation_id"))
        else:
            await self._refuse(
                "unknown_frame_type",
                'A client sends {"type": "ping"}, or (supervisors) '
                '{"type": "monitor" | "unmonitor", "conversation_id"}.',
            )

    async def _monitor_frame(self, kind: str, conversation_id) -> None:
        """A supervisor subscribes this socket to a conversation's events (read-only) or ends it. The
        role and the conversation are checked, and the start recorded, as for POST …/monitor/."""
        from .services.supervision import monitor_subscription_check

        if not isinstance(conversation_id, str) or not conversation_id:
            await self._refuse("invalid_frame", "Give the conversation_id to monitor.")
            return
        if kind == "unmonitor":
            await self._unmonitor(conversation_id)
            await self.send_json({"type": "monitor.stopped", "data": {"conversation_id": conversation_id}})
            return
        refusal = await database_sync_to_async(monitor_subscription_check)(
            membership_id=self.membership_id, conversation_id=conversation_id
        )
        if refusal is not None:
            await self._refuse(*refusal)
            return
        await self._monitor(conversation_id)

    async def _monitor(self, conversation_id: str) -> None:
        if conversation_id not in self.monitoring:
            await self.channel_layer.group_add(monitor_group(conversation_id), self.channel_name)
            self.monitoring.add(conversation_id)
        await self.send_json({"type": "monitor.started", "data": {"conversation_id": conversation_id}})

    async def _unmonitor(self, conversation_id: str) -> None:
        if conversation_id in self.monitoring:
            self.monitoring.discard(conversation_id)
            await self.channel_layer.group_discard(monitor_group(conversation_id), self.channel_name)

    async def _refuse(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "data": {"code": code, "message": message}})

    async def ccp_event(self, message):
        if self.ended:
            return
        event = message["event"]
        await self.send_json({"type": event["type"], "id": event.get("id"), "data": event["data"]})

    async def ccp_monitored(self, message):
        """An event of a conversation this supervisor's socket monitors (read-only)."""
        if self.ended:
            return
        event = message["event"]
        await self.send_json({"type": event["type"], "id": event.get("id"), "data": event["data"], "monitor": True})

    async def ccp_frame(self, message):
        """A frame sent outside the event bus (an internal note or whisper, a monitoring notice)."""
        if self.ended:
            return
        await self.send_json(message["frame"])

    async def ccp_monitor(self, message):
        """POST …/monitor/ by this supervisor: every socket of theirs joins the conversation's monitor
        group (the API checked the role and recorded the start)."""
        if self.ended:
            return
        await self._monitor(message["conversation_id"])

    async def ccp_recheck(self, message):
        """Something about the agent changed: a logout ends its session's sockets at once; anything
        else is checked against the database now."""
        ended_session = message.get("ended_session")
        if ended_session and ended_session == self.session_key:
            await self._end()
        else:
            await self._recheck()


class _SocketWatch:
    """The periodic re-check of one server process's agent sockets (one per event loop): every
    `AGENT_SOCKET_RECHECK_SECONDS`, all of them in one bulk read (`memberships_for_sessions`: a
    session read and one query per 500 sockets) instead of a thread hop and queries per socket —
    one check per socket was 3.4 ms of CPU and a new database connection, which 1,000 idle
    sockets every 5 s would have turned into most of a core."""

    BATCH = 500
    _by_loop: dict = {}

    def __init__(self, loop) -> None:
        self.loop = loop
        self.sockets: dict[str, AgentConsumer] = {}
        self.task = loop.create_task(self._run())

    @classmethod
    def add(cls, consumer: AgentConsumer) -> None:
        loop = asyncio.get_running_loop()
        watch = cls._by_loop.get(loop)
        if watch is None or watch.task.done():
            watch = cls._by_loop[loop] = cls(loop)
        watch.sockets[consumer.channel_name] = consumer

    @classmethod
    def discard(cls, consumer: AgentConsumer) -> None:
        watch = cls._by_loop.get(asyncio.get_running_loop())
        if watch is None:
            return
        watch.sockets.pop(consumer.channel_name, None)
        if not watch.sockets:  # the last socket of this loop: stop (a new socket starts another)
            cls._by_loop.pop(watch.loop, None)
            if watch.task is not asyncio.current_task():  # when the watch itself closed it, it ends itself
                watch.task.cancel()

    async def _run(self) -> None:
        while self.sockets:
            await asyncio.sleep(float(settings.AGENT_SOCKET_RECHECK_SECONDS))
            current = list(self.sockets.values())
            for start in range(0, len(current), self.BATCH):
                batch = current[start : start + self.BATCH]
                pairs = [(c.session_key, c.membership_id) for c in batch]
                try:
                    standing = await database_sync_to_async(memberships_for_sessions)(sockets=pairs)
                except Exception:  # the database is away: try again next round rather than drop agents
                    logger.warning("agent socket re-check failed; retrying", exc_info=True)
                    continue
                for consumer, pair in zip(batch, pairs, strict=True):
                    if pair not in standing:
                        await consumer._end()
