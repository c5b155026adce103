"""The agent websocket /ws/agent/: pushes the agent's events; actions go through the REST agent API."""

import asyncio
import logging
import random

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from tenants.selectors import membership_for_session, membership_for_user

logger = logging.getLogger(__name__)

# Close code the workspace reads as "your session ended" (log in again).
SESSION_ENDED = 4401


class AgentConsumer(AsyncJsonWebsocketConsumer):
    """Session-authenticated by AuthMiddlewareStack; joins the group `agent.<membership id>`.

    The principal is re-checked every `AGENT_SOCKET_RECHECK_SECONDS` and whenever the group gets a
    `ccp.recheck` message (sent on logout, membership removal, user or tenant deactivation —
    `conversations.receivers`): once the session or the membership has ended, the socket leaves the
    group, drops anything still queued for it and closes with 4401.
    """

    group: str | None = None
    membership_id = None
    session_key: str | None = None
    ended = False
    _watch: asyncio.Task | None = None

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
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(
            {"type": "hello", "data": {"agent_id": str(membership.pk), "tenant": membership.tenant.slug}}
        )
        self._watch = asyncio.create_task(self._recheck_periodically())

    async def disconnect(self, code):
        if self._watch is not None:
            self._watch.cancel()
        await self._leave()

    async def _leave(self) -> None:
        if self.group:
            group, self.group = self.group, None
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _recheck_periodically(self) -> None:
        interval = float(settings.AGENT_SOCKET_RECHECK_SECONDS)
        await asyncio.sleep(random.uniform(0.5, 1.0) * interval)  # spread the sockets' re-checks
        while not self.ended:
            try:
                await self._recheck()
            except Exception:  # the database is away: try again next round rather than drop the agent
                logger.warning("agent socket re-check failed; retrying", exc_info=True)
            await asyncio.sleep(interval)

    async def _recheck(self) -> None:
        if self.ended:
            return
        membership = await database_sync_to_async(membership_for_session)(
            session_key=self.session_key, membership_id=self.membership_id
        )
        if membership is None:
            await self._end()

    async def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        await self._leave()
        await self.close(code=SESSION_ENDED)

    async def receive_json(self, content, **kwargs):
        if self.ended:
            return
        if content.get("type") == "ping":
            await self.send_json({"type": "pong", "data": {}})

    async def ccp_event(self, message):
        if self.ended:
            return
        event = message["event"]
        await self.send_json({"type": event["type"], "id": event.get("id"), "data": event["data"]})

    async def ccp_recheck(self, message):
        """Something about the agent changed: a logout ends its session's sockets at once; anything
        else is checked against the database now."""
        ended_session = message.get("ended_session")
        if ended_session and ended_session == self.session_key:
            await self._end()
        else:
            await self._recheck()
