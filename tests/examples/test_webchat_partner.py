"""The example partner (examples/webchat_partner) against the real platform under daphne:
an end user chats with an agent through the partner's own HTTP API, with receipts both ways, and the
same flow with the partner as routing owner."""

import contextlib
import importlib.util
import json
import queue
import threading

import pytest
import requests

from ccp.packages.models import CommunicationPackage
from conversations.models import Message
from routing.models import AgentWork
from tenants import services as tenant_services
from tests.conversations.conftest import online
from tests.conversations.test_interactions import agent_client
from tests.factories import connected_app_for
from tests.servers import ROOT, daphne_server, free_port, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
CHANNEL = "acme-webchat-1"


def _load_app():
    spec = importlib.util.spec_from_file_location("webchat_partner_app", ROOT / "examples/webchat_partner/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class VisitorStream:
    """What the end user's browser receives from the partner (its SSE endpoint), read on a thread."""

    def __init__(self, url: str):
        self.frames: queue.Queue = queue.Queue()
        self.response = requests.get(url, stream=True, timeout=(3, 60))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for line in self.response.iter_lines(chunk_size=1, decode_unicode=True):
                if line and line.startswith("data: "):
                    self.frames.put(json.loads(line[6:]))
        except requests.RequestException:
            return

    def next(self, kind: str, timeout: float = 30) -> dict:
        deadline = timeout
        while True:
            frame = self.frames.get(timeout=deadline)
            if frame["kind"] == kind:
                return frame


@pytest.fixture
def running_partner(tenant, partner, tmp_path):
    app = _load_app()
    _, secret = connected_app_for(partner)
    app_record = partner.connected_apps.first()
    started = []

    def start(manifest=None):
        platform = stack.enter_context(daphne_server())
        chat, server = app.serve(
            platform_url=platform,
            client_id=app_record.application.client_id,
            client_secret=secret,
            channel_address_id=CHANNEL,
            host="127.0.0.1",
            port=free_port(),
            manifest=manifest,
            state_file=tmp_path / "partner.json",
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append((chat, server))
        return chat, f"http://127.0.0.1:{server.server_address[1]}"

    with contextlib.ExitStack() as stack:
        yield app, start
        for chat, server in started:
            chat.stopping.set()
            server.shutdown()
            chat.client.close()


def _install(tenant, partner, developer_name):
    tenant_services.package_install(
        tenant=tenant,
        developer_name=developer_name,
        partner_identifier=partner.partner_identifier,
        channels=[tenant_services.ChannelSpec(channel_key="webchat", channel_address_id=CHANNEL)],
    )


def test_end_user_and_agent_chat_through_the_example_partner(running_partner, tenant, partner, alice):
    _, start = running_partner
    _, url = start()
    package = CommunicationPackage.objects.get(developer_name="demo_webchat")
    assert package.status == "published" and package.partner == partner  # the partner published it itself
    _install(tenant, partner, "demo_webchat")
    online(alice)
    browser = VisitorStream(f"{url}/api/events?visitor=visitor-1")

    sent = requests.post(
        f"{url}/api/send", json={"visitor": "visitor-1", "name": "Ann", "text": "Hi, I need help"}, timeout=10
    )
    assert sent.status_code == 201, sent.text
    work = wait_for(lambda: AgentWork.objects.filter(status="offered").first(), what="an offer")
    assert work.agent == alice
    agent = agent_client(alice)
    assert agent.post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
    assert browser.next("status")["text"] == "An agent joined the chat."

    conversation_id = sent.json()["conversation_id"]
    reply = agent.post(
        f"/api/v1/agent/conversations/{conversation_id}/messages/", {"text": "Hello Ann!"}, format="json"
    ).json()
    frame = browser.next("message")
    assert frame["text"] == "Hello Ann!" and frame["from"] == alice.name
    # the partner sent "delivered" on its own; the page sends "read" when it shows the message
    wait_for(lambda: Message.objects.get(pk=reply["id"]).status == "delivered", what="the delivered receipt")
    requests.post(f"{url}/api/read", json={"visitor": "visitor-1", "message_id": frame["id"]}, timeout=10)
    wait_for(lambda: Message.objects.get(pk=reply["id"]).status == "read", what="the read receipt")

    agent.post(f"/api/v1/agent/conversations/{conversation_id}/typing/", {"typing": True}, format="json")
    assert browser.next("typing")["on"] is True
    assert agent.post(f"/api/v1/agent/conversations/{conversation_id}/close/").status_code == 200
    assert browser.next("status")["text"] == "The conversation was closed."
    inbound = Message.objects.get(direction="inbound")
    assert inbound.text == "Hi, I need help" and inbound.sender_name == "Ann"


def test_the_partner_as_routing_owner_picks_the_agent(running_partner, tenant, partner, alice, bob):
    app, start = running_partner
    manifest = json.loads(json.dumps(app.MANIFEST))
    manifest["channel_definition"].update(developer_name="demo_webchat_routed", routing_owner="partner")
    chat, url = start(manifest)
    _install(tenant, partner, "demo_webchat_routed")
    online(alice, {"messaging": 1})
    online(bob, {"messaging": 3})
    sent = requests.post(f"{url}/api/send", json={"visitor": "v2", "text": "hello"}, timeout=10)
    assert sent.status_code == 201, sent.text
    work = wait_for(lambda: AgentWork.objects.filter(status="offered").first(), what="the partner's route")
    assert work.engine == "partner" and work.agent == bob  # its rule: the most free capacity
    wait_for(lambda: chat.routed == 1, what="the partner to count its route")
    status = requests.get(f"{url}/api/status", timeout=5).json()
    assert status["connected"] and status["routed"] == 1


def test_the_partner_pages_serve(running_partner):
    _, start = running_partner
    _, url = start()
    page = requests.get(f"{url}/", timeout=5)
    assert page.status_code == 200 and "Acme support" in page.text
    connector = requests.get(f"{url}/connector.html", timeout=5)
    assert connector.status_code == 200 and "connected to Web Chat" in connector.text
    assert requests.post(f"{url}/api/send", json={"visitor": "x", "text": " "}, timeout=5).status_code == 400
