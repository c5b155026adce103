"""The websocket side of supervision on the real ASGI app: a monitor receives the conversation's
events live and read-only, notes and whispers reach the conversation's agents and monitors, a plain
agent's monitor subscription is refused with a stable code."""

import functools

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from ccp.asgi import application
from tests.conversations.conftest import message, post
from tests.conversations.test_consumers import _cookie_headers, _in_thread, _next

from .conftest import session

pytestmark = pytest.mark.django_db(transaction=True)


async def _socket(headers):
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    assert (await communicator.receive_json_from(timeout=10))["type"] == "hello"
    return communicator


def test_a_plain_agent_cannot_subscribe_to_a_conversation(floor):
    headers = {name: _cookie_headers(getattr(floor, name).user) for name in ("alice", "bob", "sam")}

    async def scenario():
        ws = await _socket(headers["bob"])
        await ws.send_json_to({"type": "monitor", "conversation_id": floor.conversation_id})
        refused = await _next(ws, "error")
        assert refused["data"]["code"] == "supervisor_only"
        # and the socket gets nothing of the conversation afterwards
        await _in_thread(post, floor.api, message("still there?", entry_id="e5"))
        assert await ws.receive_nothing(timeout=1.5)  # Bob is no participant and monitors nothing
        await ws.disconnect()

    async_to_sync(scenario)()


def test_a_monitor_gets_the_conversations_events_live_and_notes_reach_agents_only(floor):
    headers = {name: _cookie_headers(getattr(floor, name).user) for name in ("alice", "bob", "sam")}
    sam_client = session(floor.sam)

    async def scenario():
        sam = await _socket(headers["sam"])
        alice = await _socket(headers["alice"])
        bob = await _socket(headers["bob"])
        # POST …/monitor/ makes Sam's open sockets join; a websocket frame does the same
        response = await _in_thread(sam_client.post, f"/api/v1/agent/conversations/{floor.conversation_id}/monitor/")
        assert response.status_code == 200
        started = await _next(sam, "monitor.started")
        assert started["data"]["conversation_id"] == floor.conversation_id

        await _in_thread(post, floor.api, message("are you there?", entry_id="e7"))
        live = await _next(sam, "message.created")
        assert live["monitor"] is True and live["data"]["text"] == "are you there?"
        assert (await _next(alice, "message.created"))["data"]["text"] == "are you there?"

        whisper = await _in_thread(
            functools.partial(sam_client.post, format="json"),
            f"/api/v1/agent/conversations/{floor.conversation_id}/notes/",
            {"text": "offer the refund", "whisper": True},
        )
        assert whisper.status_code == 201
        got = await _next(alice, "note.created")
        assert got["data"]["text"] == "offer the refund" and got["data"]["kind"] == "whisper"
        assert (await _next(sam, "note.created"))["data"]["id"] == got["data"]["id"]
        # Bob has nothing to do with the conversation: no note, no message
        assert await bob.receive_nothing(timeout=1)

        await sam.send_json_to({"type": "unmonitor", "conversation_id": floor.conversation_id})
        await _next(sam, "monitor.stopped")
        for ws in (sam, alice, bob):
            await ws.disconnect()

    async_to_sync(scenario)()


def test_the_agent_is_told_when_the_tenant_says_so(floor, tenant):
    tenant.notify_agent_on_monitor = True
    tenant.save(update_fields=["notify_agent_on_monitor"])

    headers = {name: _cookie_headers(getattr(floor, name).user) for name in ("alice", "bob", "sam")}

    async def scenario():
        alice = await _socket(headers["alice"])
        sam = await _socket(headers["sam"])
        await sam.send_json_to({"type": "monitor", "conversation_id": floor.conversation_id})
        await _next(sam, "monitor.started")
        notice = await _next(alice, "monitor.notice")
        assert notice["data"] == {
            "conversation_id": floor.conversation_id,
            "supervisor_id": str(floor.sam.pk),
            "supervisor_name": "Sam",
        }
        await sam.send_json_to({"type": "monitor", "conversation_id": "not-a-conversation"})
        assert (await _next(sam, "error"))["data"]["code"] == "conversation_not_found"
        for ws in (sam, alice):
            await ws.disconnect()

    async_to_sync(scenario)()


def test_a_supervisor_made_an_agent_stops_monitoring_at_once(floor):
    from tenants import services as tenant_services

    headers = {"sam": _cookie_headers(floor.sam.user)}

    async def scenario():
        sam = await _socket(headers["sam"])
        await sam.send_json_to({"type": "monitor", "conversation_id": floor.conversation_id})
        await _next(sam, "monitor.started")
        await _in_thread(lambda: tenant_services.membership_set_role(membership=floor.sam, role="agent"))
        stopped = await _next(sam, "monitor.stopped")
        assert stopped["data"]["conversation_id"] == floor.conversation_id
        await _in_thread(post, floor.api, message("hello again", entry_id="e8"))
        assert await sam.receive_nothing(timeout=1.5)  # no longer in the monitor group
        await sam.disconnect()

    async_to_sync(scenario)()
