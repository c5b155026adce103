"""The agent websocket /ws/agent/: pushes the agent's events; actions go through the REST agent API."""

import contextlib

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from redis.exceptions import RedisError

from tenants.selectors import membership_for_user


class AgentConsumer(AsyncJsonWebsocketConsumer):
    """Session-authenticated by AuthMiddlewareStack; joins the group `agent.<membership id>`."""

    group: str | None = None

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
            await self.close(code=4401)
            return
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

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong", "data": {}})

    async def ccp_event(self, message):
        event = message["event"]
        await self.send_json({"type": event["type"], "id": event.get("id"), "data": event["data"]})
