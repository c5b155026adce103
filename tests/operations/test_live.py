"""The supervisors' live view over /ws/supervisor/: a snapshot at once, then pushes when routing or
presence changes — through the real event bus, Redis lease, Celery worker and channel layer."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client

from ccp.asgi import application
from ccp.celery import app as celery_app
from ccp.core.redis import redis_client
from ccp.operations.services import realtime_push_request
from routing import services as routing_services
from tests.factories import MembershipFactory
from tests.servers import celery_worker_process, stop_process

pytestmark = pytest.mark.django_db(transaction=True)


def _headers(user) -> list:
    client = Client()
    client.force_login(user)
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), (b"origin", b"http://localhost")]


def _in_thread(fn, **kwargs):
    def run():
        try:
            return fn(**kwargs)
        finally:
            connection.close()

    return sync_to_async(run, thread_sensitive=False)()


async def _snapshots_until(communicator, predicate, timeout: float = 20) -> list[dict]:
    frames, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = await communicator.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        assert frame["type"] == "realtime.snapshot"
        frames.append(frame["data"])
        if predicate(frame["data"]):
            return frames
    raise AssertionError(f"no matching snapshot in {frames}")


@pytest.fixture
def worker():
    process = celery_worker_process(queue=celery_app.conf.task_default_queue)
    yield process
    stop_process(process)


def _status(snapshot, name):
    return next(a["status"] for a in snapshot["agents"] if a["name"] == name)


def test_supervisor_sees_presence_changes_live_and_throttled(tenant, worker):
    alice = MembershipFactory(tenant=tenant, role="agent", display_name="Alice")
    sue = MembershipFactory(tenant=tenant, role="supervisor", display_name="Sue")
    redis_client().delete(f"ccp:ops:realtime:{tenant.pk}")
    headers = _headers(sue.user)

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/supervisor/", headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        first = await communicator.receive_json_from(timeout=10)
        assert first["type"] == "realtime.snapshot" and _status(first["data"], "Alice") == "offline"
        assert first["data"]["totals"]["agents_online"] == 0
        # five changes in quick succession: coalesced into few pushes; the last state arrives
        for status in ("online", "away", "online", "busy", "online"):
            await _in_thread(routing_services.presence_set, membership=alice, status=status)
        started = time.monotonic()
        frames = await _snapshots_until(communicator, lambda s: _status(s, "Alice") == "online")
        assert time.monotonic() - started < 15
        assert len(frames) <= 2, frames
        assert frames[-1]["totals"]["agents_online"] == 1 and frames[-1]["totals"]["agents_available"] == 1
        await asyncio.sleep(1.5)
        assert await communicator.receive_nothing(timeout=1.0)  # nothing changed: nothing pushed
        await communicator.disconnect()

    asyncio.run(scenario())


def test_agents_cannot_watch(tenant):
    alice = MembershipFactory(tenant=tenant, role="agent")
    headers = _headers(alice.user)

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/supervisor/", headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        closed = await communicator.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4403}
        await communicator.disconnect()

    asyncio.run(scenario())


def test_a_push_request_takes_the_lease_once(tenant):
    redis_client().delete(f"ccp:ops:realtime:{tenant.pk}")
    assert realtime_push_request(tenant_id=tenant.pk) is True
    assert realtime_push_request(tenant_id=tenant.pk) is False
