"""The supervisors' websocket /ws/supervisor/: the live snapshot of queues and agents, pushed when
routing or presence changes (services/realtime.py). Read-only: frames from the browser are ignored
except `ping`."""

from __future__ import annotations

import contextlib

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from redis.exceptions import RedisError

from tenants.choices import Role
from tenants.selectors import membership_for_user

from .selectors import supervisor_socket_stands
from .services.realtime import realtime_snapshot, supervisors_group

# Close codes: the session ended (log in again) / the account may not watch (not a supervisor).
SESSION_ENDED = 4401
NOT_ALLOWED = 4403


class SupervisorConsumer(AsyncJsonWebsocketConsumer):
    """Session-authenticated (AuthMiddlewareStack); supervisors and tenant admins join the group
    `supervisors.<tenant id>` and get a snapshot at once, then one per push. Each push re-checks the
    session and membership first (at most one per REPORTS_REALTIME_PUSH_SECONDS), and a socket whose
    session or role has ended is closed."""

    group: str | None = None
    membership_id = None
    session_key: str | None = None

    async def connect(self):
        user = self.scope.get("user")
        membership = await database_sync_to_async(membership_for_user)(user=user) if user else None
        await self.accept()
        if membership is None:
            await self.close(code=SESSION_ENDED)
            return
        if membership.role not in (Role.SUPERVISOR, Role.ADMIN):
            await self.close(code=NOT_ALLOWED)
            return
        self.membership_id = membership.pk
        self.session_key = getattr(self.scope.get("session"), "session_key", None)
        try:
            self.group = supervisors_group(membership.tenant_id)
            await self.channel_layer.group_add(self.group, self.channel_name)
        except (OSError, RedisError):
            self.group = None
            await self.close(code=1013)  # try again later: the page reconnects with backoff
            return
        snapshot = await database_sync_to_async(realtime_snapshot)(tenant=membership.tenant)
        await self.send_json({"type": "realtime.snapshot", "data": snapshot})

    async def disconnect(self, code):
        if self.group:
            group, self.group = self.group, None
            with contextlib.suppress(OSError, RedisError):
                await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "data": {}})

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        with contextlib.suppress(ValueError):
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)

    async def _still_standing(self) -> bool:
        """The session and the supervisor's role still stand; else the socket closes (4401)."""
        stands = await database_sync_to_async(supervisor_socket_stands)(
            session_key=self.session_key, membership_id=self.membership_id
        )
        if not stands:
            await self.disconnect(SESSION_ENDED)
            await self.close(code=SESSION_ENDED)
        return stands

    async def realtime_snapshot(self, event):
        if await self._still_standing():
            await self.send_json({"type": "realtime.snapshot", "data": event["data"]})

    async def sla_alert(self, event):
        """An SLA warning or breach of the tenant (ccp/operations/services/realtime.py)."""
        if await self._still_standing():
            await self.send_json({"type": "sla.alert", "data": event["data"]})
