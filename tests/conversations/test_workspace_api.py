"""The workspace's side-panel lookups: tenant-scoped, session-only, and what an agent reads there."""

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from ccp.packages.models import ConversationChannelDefinition
from conversations import services
from routing.models import AgentWork
from tests.factories import MembershipFactory
from tests.helpers import assert_error

from .conftest import CHANNEL, install, message, online, post

pytestmark = pytest.mark.django_db


def session(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


def test_channel_directory_lists_types_and_connector_urls(tenant, partner, alice):
    channel = install(tenant, partner)
    ConversationChannelDefinition.objects.filter(package=channel.installation.package).update(
        connector_url="https://partner.example/c.html"
    )
    rows = session(alice).get("/api/v1/agent/workspace/channels/").json()
    assert [(r["channel_address_id"], r["channel_type"], r["connector_url"], r["is_active"]) for r in rows] == [
        (CHANNEL, "messaging", "https://partner.example/c.html", True)
    ]


def test_contact_directory_finds_a_contact_with_past_conversations_of_this_tenant_only(
    tenant, other_tenant, partner, api, alice
):
    install(tenant, partner)
    post(api, message("hi"), name="Ann")
    post(api, message("hello", entry_id="e2"), sender="+4917000000", name="Bo")
    outsider = MembershipFactory(tenant=other_tenant, role="agent")

    found = session(alice).get("/api/v1/agent/workspace/contacts/", {"q": "ann"}).json()
    assert [(c["name"], c["addresses"], len(c["conversations"])) for c in found] == [("Ann", ["+4915112345"], 1)]
    assert found[0]["conversations"][0]["status"] == "routing"
    assert len(session(alice).get("/api/v1/agent/workspace/contacts/").json()) == 2
    assert session(outsider).get("/api/v1/agent/workspace/contacts/").json() == []
    assert session(outsider).get("/api/v1/agent/workspace/channels/").json() == []


def test_work_history_lists_only_own_finished_work(tenant, partner, api, alice, bob):
    install(tenant, partner)
    online(alice, capacity={"messaging": 1})
    post(api, message("hi"))
    work = AgentWork.objects.get(agent=alice)
    with transaction.atomic():
        services.agent_work_decline(work=work, reason="busy")
    rows = session(alice).get("/api/v1/agent/workspace/history/").json()
    assert [(r["work_id"], r["status"], r["contact_name"]) for r in rows] == [(str(work.id), "declined", "Ann")]
    assert session(bob).get("/api/v1/agent/workspace/history/").json() == []


@pytest.mark.parametrize("path", ["channels/", "contacts/", "history/"])
def test_side_panel_lookups_need_a_session(path):
    assert_error(APIClient().get(f"/api/v1/agent/workspace/{path}"), 401, "not_authenticated")
