"""The supervisors' live view: a compact snapshot of queues and agents (the realtime report), pushed
to the tenant's supervisors' websockets when routing or presence changes — not polled.

Throttle: the first change of a tenant takes a short Redis lease (SET NX PX, 90 % of
REPORTS_REALTIME_PUSH_SECONDS) and schedules one push REPORTS_REALTIME_PUSH_SECONDS later; changes
while the lease stands are covered by that push (it reads the state when it runs). A change after the
lease expired but before the push read the state schedules the next one, so the last change is
never left unpushed. Without Redis (the embedded default) the push runs on a timer thread.
"""

from __future__ import annotations

import json
import logging
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from ccp.core.redis import redis_client
from ccp.core.redis_health import redis_failed, redis_skipping
from ccp.events.services.push import push_messages
from tenants.models import Tenant

from ..selectors import report_realtime
from ..tasks import realtime_push_task

logger = logging.getLogger(__name__)

# What changes the live view: routing and presence (and conversations arriving or closing).
REALTIME_EVENT_TYPES = frozenset(
    {
        "work.offered",
        "work.accepted",
        "work.declined",
        "work.timed_out",
        "work.rescinded",
        "work.closed",
        "work.acw_started",
        "work.acw_ended",
        "agent.status_changed",
        "agent.capacity_changed",
        "routing.requested",
        "conversation.created",
        "conversation.closed",
        "conversation.transferred",
    }
)


SLA_ALERT_TYPES = frozenset({"sla.warning", "sla.breached"})


def sla_alerts_push(*, events) -> int:
    """Send each committed `sla.warning` / `sla.breached` to its tenant's supervisors' live views
    (frame `sla.alert`: the event's type and data). Best effort, like every push: a supervisor who
    misses one sees the state in the supervision list's next read. Returns how many were sent."""
    messages = [
        (supervisors_group(e.tenant_id), {"type": "sla.alert", "data": {"type": e.type, **e.data}})
        for e in events
        if e.type in SLA_ALERT_TYPES and e.tenant_id
    ]
    if messages:
        push_messages(json.loads(json.dumps(messages, cls=DjangoJSONEncoder)))
    return len(messages)


def supervisors_group(tenant_id) -> str:
    """The Channels group of a tenant's supervisors' and admins' live views."""
    return f"supervisors.{tenant_id}"


def realtime_push_request(*, tenant_id) -> bool:
    """Ask for a push of the tenant's snapshot soon; True when this call scheduled it (False: one is
    already due and covers this change). Called after commit."""
    delay = settings.REPORTS_REALTIME_PUSH_SECONDS
    client = redis_client(timeout=1)
    if client is None or settings.CELERY_TASK_ALWAYS_EAGER:
        # the embedded default (one process): the same throttle, kept in this process
        with _pending_lock:
            if str(tenant_id) in _pending:
                return False
            _pending.add(str(tenant_id))
        timer = threading.Timer(delay, _push_in_thread, args=(str(tenant_id),))
        timer.daemon = True
        timer.start()
        return True
    if redis_skipping():
        return False
    try:
        if not client.set(f"ccp:ops:realtime:{tenant_id}", 1, nx=True, px=max(1, int(delay * 900))):
            return False
        realtime_push_task.apply_async(args=(str(tenant_id),), countdown=delay)
    except Exception as exc:
        redis_failed("realtime push", exc)
        return False
    return True


_pending: set[str] = set()
_pending_lock = threading.Lock()


def _push_in_thread(tenant_id: str) -> None:
    with _pending_lock:
        _pending.discard(tenant_id)  # before reading the state: a change from now on schedules another
    try:
        realtime_push(tenant_id=tenant_id)
    except Exception:
        logger.exception("realtime push failed")
    finally:
        connection.close()


def realtime_snapshot(*, tenant: Tenant) -> dict:
    """The realtime report as JSON-ready data (the API's body; what the websocket carries)."""
    return json.loads(json.dumps(report_realtime(tenant=tenant), cls=DjangoJSONEncoder))


def realtime_push(*, tenant_id) -> bool:
    """Send the tenant's snapshot to its supervisors' group now (False: no such tenant, no layer)."""
    tenant = Tenant.objects.filter(pk=tenant_id, is_active=True).first()
    layer = get_channel_layer()
    if tenant is None or layer is None:
        return False
    snapshot = realtime_snapshot(tenant=tenant)
    async_to_sync(layer.group_send)(supervisors_group(tenant.pk), {"type": "realtime.snapshot", "data": snapshot})
    return True
