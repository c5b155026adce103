"""A partner connector in the workspace (FIG 21, 22): handshake, events to the connector, actions back."""

from __future__ import annotations

import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ccp.packages.models import ConversationChannelDefinition
from tests.conversations.conftest import CHANNEL, install
from tests.factories import PASSWORD
from tests.helpers import token_for

from .conftest import Partner, log_in, new_page, screenshot
from .test_workspace import agent, go_online

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONNECTOR_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Test connector</title>
<script src="{ccp}/static/connector/ccp-connector-sdk.js"></script></head>
<body style="font: 13px sans-serif">
<p id="state">waiting for the workspace</p>
<button id="send">Send via connector</button> <span id="result"></span>
<ol id="events"></ol>
<script>
let conversationId = null;
const connector = CcpConnector.connect({{
  hostOrigins: ["{trusted}"],
  name: "Test connector",
  onContext(ctx) {{
    document.getElementById("state").textContent = "agent " + ctx.agent.name + " on " + ctx.channel.name;
  }},
  onEvent(event) {{
    if (event.data && event.data.conversation_id) conversationId = event.data.conversation_id;
    const li = document.createElement("li");
    li.textContent = event.type + (event.data.status ? " " + event.data.status : "");
    document.getElementById("events").append(li);
  }},
}});
document.getElementById("send").onclick = async () => {{
  try {{
    const params = {{conversation_id: conversationId, text: "Sent by the connector"}};
    const result = await connector.action("send_message", params);
    document.getElementById("result").textContent = "sent " + result.message_id;
  }} catch (error) {{
    document.getElementById("result").textContent = "refused: " + error.message;
  }}
}};
</script></body></html>
"""


def serve_connector(server, trusted: str):
    page = CONNECTOR_PAGE.format(ccp=server.url, trusted=trusted).encode()

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/connector.html"


@pytest.fixture
def connector_site(server):
    httpd, url = serve_connector(server, trusted=server.url)
    yield url
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def distrustful_connector_site(server):
    """A connector that trusts another workspace origin only: it must ignore this workspace."""
    httpd, url = serve_connector(server, trusted="https://other-ccp.example")
    yield url
    httpd.shutdown()
    httpd.server_close()


def test_connector_handshake_and_round_trip(browser, server, tenant, partner, connected_app, connector_site):
    from playwright.sync_api import expect

    channel = install(tenant, partner)
    ConversationChannelDefinition.objects.filter(package=channel.installation.package).update(
        connector_url=connector_site
    )
    agent(tenant, "Alice", "alice")
    api = Partner(server, token_for(connected_app), CHANNEL)

    page = new_page(browser)
    log_in(page, server, "alice", PASSWORD)
    expect(page.locator("#connector-status")).to_have_text(f"Logged in to channel {channel.name}")
    frame = page.frame_locator(f"iframe[title='Connector for {channel.name}']")
    expect(frame.locator("#state")).to_have_text(f"agent Alice on {channel.name}")
    iframe = page.locator("iframe.connector-frame")
    assert iframe.get_attribute("sandbox") == "allow-scripts allow-forms allow-same-origin"

    # the agent's actions reach the connector as ccp:event
    go_online(page)
    expect(frame.locator("#events li").first).to_have_text("status online")
    api.interaction({"id": "e1", "type": "message", "text": "Hi from the channel"})
    page.get_by_role("button", name="Accept (A)").click()
    expect(frame.locator("#events")).to_contain_text("accept")

    # the connector invokes a channel action; the host routes it to the platform API
    page.get_by_role("tab", name="Connectors").click()
    frame.get_by_role("button", name="Send via connector").click()
    expect(frame.locator("#result")).to_contain_text("sent ")
    expect(page.locator("#transcript .msg.outbound")).to_contain_text("Sent by the connector")
    expect(page.locator("#panel-connectors")).to_contain_text(f"Logged in to channel {channel.name}")
    screenshot(page, "connector")
    page.context.close()


def test_connector_ignores_a_workspace_origin_it_does_not_trust(
    browser, server, tenant, partner, distrustful_connector_site
):
    from playwright.sync_api import expect

    channel = install(tenant, partner)
    ConversationChannelDefinition.objects.filter(package=channel.installation.package).update(
        connector_url=distrustful_connector_site
    )
    agent(tenant, "Alice", "alice")
    page = new_page(browser)
    log_in(page, server, "alice", PASSWORD)
    page.get_by_role("tab", name="Connectors").click()
    expect(page.locator("#panel-connectors")).to_contain_text(f"Connector for {channel.name} did not answer.")
    frame = page.frame_locator(f"iframe[title='Connector for {channel.name}']")
    expect(frame.locator("#state")).to_have_text("waiting for the workspace")
    expect(page.locator("#connector-status")).to_have_text("")
    page.context.close()
