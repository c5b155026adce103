"""The workspace's SLA countdown in Chromium: shown for a held conversation, counting down, and
turned into a breach by the sweep's sla.breached over the websocket."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest

from conversations.models import SlaClock, SlaPolicy
from tenants.models import Channel
from tests.factories import PASSWORD, MembershipFactory

from .conftest import log_in, new_page, screenshot
from .test_workspace import go_online, setup  # noqa: F401 — the workspace's fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _off_the_event_loop(fn) -> None:
    worker = threading.Thread(target=fn)  # Playwright's thread runs an event loop: write elsewhere
    worker.start()
    worker.join(timeout=30)


def test_the_workspace_counts_down_and_shows_the_breach(browser, server, setup, tenant):  # noqa: F811
    from playwright.sync_api import expect

    SlaPolicy.objects.create(
        tenant=tenant, name="Chat", channel=Channel.objects.get(), first_response_seconds=3600, resolution_seconds=86400
    )
    partner = setup["partner"]
    MembershipFactory(tenant=tenant, role="supervisor", display_name="Sue", user__username="sue")
    supervisor = new_page(browser)
    log_in(supervisor, server, "sue", PASSWORD)
    supervisor.goto(server.url + "/supervisor/")
    page = new_page(browser)
    log_in(page, server, "alice", PASSWORD)
    go_online(page)
    partner.interaction({"id": "e1", "type": "message", "text": "Where is my parcel?"})
    page.locator(".offer").get_by_role("button", name=re.compile("Accept")).click()
    badge = page.locator(".conv-sla")
    expect(badge).to_have_text(re.compile(r"First response (59:5\d|1:00:00)"))
    first = badge.text_content()
    page.wait_for_timeout(2100)
    assert badge.text_content() != first  # it counts down every second
    screenshot(page, "sla_countdown")

    def breach():
        from conversations import services

        clock = SlaClock.objects.get(target="first_response")
        shift = timedelta(seconds=3601)
        SlaClock.objects.filter(pk=clock.pk).update(
            started_at=clock.started_at - shift, warn_at=clock.warn_at - shift, due_at=clock.due_at - shift
        )
        services.sla_sweep()

    _off_the_event_loop(breach)
    expect(badge).to_have_class(re.compile("sla-breached"))
    expect(badge).to_have_text(re.compile(r"First response overdue \d+s"))
    screenshot(page, "sla_breached")
    # the supervisor's page is told at once, over its live socket (not at the list's next refresh)
    alert = supervisor.locator("#sla-alert")
    expect(alert).to_have_text(re.compile(r"^SLA breached: first response of \S"), timeout=10000)
    expect(alert).to_have_class(re.compile("breached"))
    screenshot(supervisor, "supervisor-sla-alert")
