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


def test_an_sla_breach_reaches_the_supervisors_live_view_at_once(tenant, partner, api):
    from datetime import timedelta

    from conversations import services as conversation_services
    from conversations.models import Conversation, SlaClock, SlaPolicy
    from tests.conversations.conftest import install, message, post

    channel = install(tenant, partner)
    SlaPolicy.objects.create(tenant=tenant, name="Chat", channel=channel, first_response_seconds=300)
    sue = MembershipFactory(tenant=tenant, role="supervisor", display_name="Sue")
    agent = MembershipFactory(tenant=tenant, role="agent", display_name="Al")
    headers = _headers(sue.user)
    assert post(api, message("where is my parcel?", "e1")).status_code == 201
    conversation = Conversation.objects.get()
    past = timedelta(seconds=400)  # the 300 s first-response target has passed
    for clock in SlaClock.objects.filter(conversation=conversation):
        SlaClock.objects.filter(pk=clock.pk).update(
            started_at=clock.started_at - past, warn_at=clock.warn_at - past, due_at=clock.due_at - past
        )

    async def scenario(path: str, user_headers) -> list[dict]:
        communicator = WebsocketCommunicator(application, path, headers=user_headers)
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        frames = [await communicator.receive_json_from(timeout=10)]  # the first snapshot
        await _in_thread(conversation_services.sla_sweep)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and frames[-1].get("data", {}).get("type") != "sla.breached":
            try:
                frames.append(await communicator.receive_json_from(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                break
        await communicator.disconnect()
        return frames

    frames = asyncio.run(scenario("/ws/supervisor/", headers))
    alerts = [f["data"] for f in frames if f["type"] == "sla.alert"]
    # the sweep marks the warning and the breach in one round; the breach is what must arrive
    assert any(a["type"] == "sla.breached" for a in alerts), frames
    breach = next(a for a in alerts if a["type"] == "sla.breached")
    assert breach["conversation_id"] == str(conversation.pk) and breach["target"] == "first_response"

    # a plain agent is refused the supervisors' socket (4403), so never sees an alert
    agent_headers = _headers(agent.user)

    async def agent_is_refused() -> dict:
        communicator = WebsocketCommunicator(application, "/ws/supervisor/", headers=agent_headers)
        await communicator.connect(timeout=10)
        closed = await communicator.receive_output(timeout=10)
        await communicator.disconnect()
        return closed

    assert asyncio.run(agent_is_refused()) == {"type": "websocket.close", "code": 4403}
