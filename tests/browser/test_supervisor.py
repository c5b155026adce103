"""The supervisor page in Chromium: queues, agents and routing decisions, refreshed live."""

from __future__ import annotations

import pytest

from routing.models import Queue
from tenants.models import Membership
from tests.conversations.conftest import install
from tests.factories import PASSWORD
from tests.helpers import token_for

from .conftest import Partner, new_page, screenshot
from .test_workspace import agent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_supervisor_watches_queues_agents_and_decisions(browser, server, tenant, partner, connected_app):
    from playwright.sync_api import expect

    channel = install(tenant, partner)
    Queue.objects.create(tenant=tenant, name="billing")
    supervisor = agent(tenant, "Sam", "sam")
    Membership.objects.filter(pk=supervisor.pk).update(role="supervisor")
    agent(tenant, "Alice", "alice")

    page = new_page(browser)
    page.goto(server.url + "/accounts/login/?next=/supervisor/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server.url + "/supervisor/")
    expect(page.locator("#queues")).to_contain_text("billing")
    expect(page.locator("#agents")).to_contain_text("Alice")

    # a conversation arrives while nobody is online: the page shows it waiting, and the decision
    Partner(server, token_for(connected_app), channel.channel_address_id).interaction(
        {"id": "s1", "type": "message", "text": "Is anyone there?"}
    )
    waiting = page.locator("#queues tr", has_text="(no queue)")
    expect(waiting).to_contain_text("1")
    expect(page.locator("#decisions")).to_contain_text("no_agent")
    expect(page.locator("#updated")).to_contain_text("Updated")
    # the A/B block: per-arm rows with intervals, and the sentence saying nothing is significant yet
    expect(page.locator("#ab tbody tr")).to_have_count(2)
    expect(page.locator("#ab-verdict")).to_contain_text("not yet statistically significant")
    screenshot(page, "supervisor")
