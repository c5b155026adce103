"""Every page runs under the Content-Security-Policy without a single violation, and bidi controls in
untrusted text never reach the screen (workspace from the API, admin from templates)."""

from __future__ import annotations

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from ccp.packages.models import ConversationChannelDefinition
from conversations.models import Contact
from routing.models import WorkItem
from tenants.models import Membership
from tests.conversations.conftest import CHANNEL, install
from tests.factories import PASSWORD, UserFactory
from tests.helpers import token_for

from .conftest import Partner, log_in, new_page
from .test_connectors import serve_connector
from .test_workspace import agent, go_online

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Recorded in every frame from the first script on, so nothing the page does escapes it.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`));
"""
RLO, LRI, PDI = "\u202e", "\u2066", "\u2069"


def watched_page(browser):
    page = new_page(browser)
    page.context.add_init_script(RECORD_VIOLATIONS)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    page.csp_console = console
    return page


def violations(page) -> list[str]:
    return [*page.evaluate("window.__csp || []"), *page.csp_console]


def operator_login(page, server):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    user.save(update_fields=["password"])
    page.goto(server.url + "/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server.url + "/admin/")


def test_the_workspace_and_its_connector_run_under_the_policy(browser, server, tenant, partner, connected_app):
    from playwright.sync_api import expect

    httpd, connector_url = serve_connector(server, trusted=server.url)
    try:
        channel = install(tenant, partner)
        ConversationChannelDefinition.objects.filter(package=channel.installation.package).update(
            connector_url=connector_url
        )
        agent(tenant, "Alice", "alice")
        api = Partner(server, token_for(connected_app), CHANNEL)

        page = watched_page(browser)
        log_in(page, server, "alice", PASSWORD)
        policy = requests.get(server.url + "/accounts/login/", timeout=10).headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        expect(page.locator("#connection")).to_have_text("Connected")  # the websocket: connect-src 'self'
        expect(page.locator("#connector-status")).to_have_text(f"Logged in to channel {channel.name}")
        go_online(page)
        api.interaction({"id": "c1", "type": "message", "text": "Hello under CSP"})
        page.get_by_role("button", name="Accept (A)").click()
        expect(page.locator("#transcript .msg.inbound")).to_contain_text("Hello under CSP")
        composer = page.get_by_label("Reply", exact=True)
        composer.fill("Answer under CSP")
        composer.press("Enter")
        expect(page.locator("#transcript .msg.outbound .text")).to_have_text("Answer under CSP")
        page.get_by_role("tab", name="Connectors").click()
        expect(page.frame_locator("iframe.connector-frame").locator("#state")).to_contain_text("agent Alice")
        assert violations(page) == []
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_workspace_frames_only_its_tenants_connector_origins(browser, server, tenant, partner):
    channel = install(tenant, partner)
    ConversationChannelDefinition.objects.filter(package=channel.installation.package).update(
        connector_url="https://connector.partner.example:8443/ccp?x=1"
    )
    agent(tenant, "Alice", "alice")
    page = watched_page(browser)
    log_in(page, server, "alice", PASSWORD)
    response = page.request.get(server.url + "/agent/")
    policy = response.headers["content-security-policy"]
    frame_src = next(d for d in policy.split(";") if d.strip().startswith("frame-src"))
    assert frame_src.split()[1:] == ["'self'", "https://connector.partner.example:8443"]


def test_supervisor_admin_login_and_api_docs_pages_have_no_violation(browser, server, tenant, partner):
    from playwright.sync_api import expect

    install(tenant, partner)
    supervisor = agent(tenant, "Sam", "sam")
    Membership.objects.filter(pk=supervisor.pk).update(role="supervisor")
    page = watched_page(browser)
    page.goto(server.url + "/accounts/login/?next=/supervisor/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server.url + "/supervisor/")
    expect(page.locator("#agents")).to_contain_text("Sam")
    assert violations(page) == []

    admin = watched_page(browser)
    operator_login(admin, server)
    for path in (
        "/admin/",
        "/admin/tenants/membership/",
        f"/admin/tenants/membership/{supervisor.pk}/change/",
        "/admin/tenants/packageinstallation/install/",
        "/admin/packages/connectedapp/add/",
        "/admin/routing/workitem/",
        "/admin/events/event/",
        "/api/v1/docs/",
    ):
        admin.goto(server.url + path)
        admin.wait_for_load_state("load")
        assert violations(admin) == [], path
        assert "content-security-policy" in {h.lower() for h in admin.request.get(server.url + path).headers}


def test_bidi_controls_in_untrusted_text_are_not_shown(browser, server, tenant, partner, connected_app):
    from playwright.sync_api import expect

    install(tenant, partner)
    agent(tenant, "Alice", "alice")
    api = Partner(server, token_for(connected_app), CHANNEL)
    spoofed = f"Ann{RLO}fdp.exe"
    page = watched_page(browser)
    log_in(page, server, "alice", PASSWORD)
    go_online(page)
    api.interaction({"id": "b1", "type": "message", "text": f"see {LRI}invoice{PDI} {RLO}gnp.exe"}, name=spoofed)
    offer = page.locator(".offer")
    expect(offer).to_contain_text("Annfdp.exe")
    page.get_by_role("button", name="Accept (A)").click()
    expect(page.locator("#conv-title")).to_have_text("Annfdp.exe")
    expect(page.locator("#transcript .msg.inbound")).to_contain_text("see invoice gnp.exe")
    shown = page.evaluate("document.body.innerText")
    assert not any(c in shown for c in (RLO, LRI, PDI))
    titles = page.evaluate(
        "[...document.querySelectorAll('[title],[aria-label]')].map(e => e.title + e.getAttribute('aria-label')).join()"
    )
    assert RLO not in titles

    # the server-rendered admin shows the same contact without the controls
    assert Contact.objects.filter(name=spoofed).exists()  # stored as received: display is what changes
    admin = watched_page(browser)
    operator_login(admin, server)
    item = WorkItem.objects.get(attributes__contact_name=spoofed)  # the offer's attributes, as stored
    admin.goto(server.url + f"/admin/routing/workitem/{item.pk}/change/")
    expect(admin.locator("#content")).to_contain_text("Annfdp.exe")
    html = admin.content()
    assert RLO not in html and "Annfdp.exe" in html
