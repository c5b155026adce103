"""The agent websocket /ws/agent/: pushes the agent's events; actions go through the REST agent API."""

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from tenants.selectors import membership_for_user


class AgentConsumer(AsyncJsonWebsocketConsumer):
    """Session-authenticated by AuthMiddlewareStack; joins the group `agent.<membership id>`."""

    group: str | None = None

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
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(
            {"type": "hello", "data": {"agent_id": str(membership.pk), "tenant": membership.tenant.slug}}
        )

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

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
        if content.get("type") == "ping":
            await self.send_json({"type": "pong", "data": {}})
        else:
            await self._refuse("unknown_frame_type", 'The only frame a client sends is {"type": "ping"}.')

    async def _refuse(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "data": {"code": code, "message": message}})

    async def ccp_event(self, message):
        event = message["event"]
        await self.send_json({"type": event["type"], "id": event.get("id"), "data": event["data"]})
