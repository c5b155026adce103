"""The agent websocket on the real ASGI app: offers and the end user's messages arrive live."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client

from ccp.asgi import application
from routing.models import AgentWork

from .conftest import install, message, online, post
from .test_interactions import agent_client

pytestmark = pytest.mark.django_db(transaction=True)


def _cookie_headers(user) -> list:
    client = Client()
    client.force_login(user)
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), (b"origin", b"http://localhost")]


def _in_thread(fn, *args):
    def run():
        try:
            return fn(*args)
        finally:
            connection.close()

    return sync_to_async(run, thread_sensitive=False)()


async def _next(communicator, type_: str, limit: int = 20) -> dict:
    for _ in range(limit):
        frame = await communicator.receive_json_from(timeout=10)
        if frame["type"] == type_:
            return frame
    raise AssertionError(f"no {type_} frame")


def test_agent_receives_the_offer_and_the_end_users_message(tenant, partner, api, alice):
    install(tenant, partner)
    online(alice)
    headers = _cookie_headers(alice.user)

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        hello = await communicator.receive_json_from(timeout=10)
        assert hello == {"type": "hello", "data": {"agent_id": str(alice.pk), "tenant": "acme"}}

        await _in_thread(post, api, message("My card is blocked"))
        offer = await _next(communicator, "work.offered")
        assert offer["data"]["attributes"]["first_message"] == "My card is blocked"
        assert offer["data"]["attributes"]["contact_name"] == "Ann"
        assert isinstance(offer["id"], int)

        work_id = offer["data"]["work_id"]
        accepted = await _in_thread(lambda: agent_client(alice).post(f"/api/v1/agent/work/{work_id}/accept/"))
        assert accepted.status_code == 200
        await _next(communicator, "work.accepted")

        await _in_thread(post, api, message("Are you there?", "e2"))
        frame = await _next(communicator, "message.created")
        while frame["data"]["direction"] != "inbound":
            frame = await _next(communicator, "message.created")
        assert frame["data"]["text"] == "Are you there?"
        assert frame["data"]["conversation"]["status"] == "active"
        await communicator.disconnect()

    async_to_sync(scenario)()
    assert AgentWork.objects.get().status == "accepted"


def test_websocket_without_a_session_is_refused(db):
    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/agent/", headers=[(b"origin", b"http://localhost")])
        connected, _ = await communicator.connect(timeout=10)
        assert connected  # accepted only to be closed with a code the browser can read
        assert await communicator.receive_output(timeout=10) == {"type": "websocket.close", "code": 4401}

    async_to_sync(scenario)()
