"""Fixtures of the supervision and agent-tools tests: acme with a channel, agents, a supervisor, and
a conversation held by Alice."""

from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from routing.models import AgentWork
from tests.conversations.conftest import install, message, online, post
from tests.factories import MembershipFactory


def session(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


@pytest.fixture
def floor(tenant, partner, api):
    """A conversation from Ann held by Alice; Bob (agent), Sam (supervisor), Ada (admin) around."""
    channel = install(tenant, partner)
    alice = online(MembershipFactory(tenant=tenant, role="agent", display_name="Alice"))
    bob = MembershipFactory(tenant=tenant, role="agent", display_name="Bob")
    sam = MembershipFactory(tenant=tenant, role="supervisor", display_name="Sam")
    ada = MembershipFactory(tenant=tenant, role="admin", display_name="Ada")
    conversation_id = post(api, message("my card is blocked")).json()["conversation_id"]
    work = AgentWork.objects.get(agent=alice)
    assert session(alice).post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
    return SimpleNamespace(
        api=api, channel=channel, alice=alice, bob=bob, sam=sam, ada=ada, conversation_id=conversation_id, work=work
    )
