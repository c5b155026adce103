"""Least privilege (issue 16.3): an agent reads only the conversations they handle, supervisors and
admins read any (recorded), partners reach only the agents of their own contact centers and only
the conversations of tenants that keep their package installed, and agents' consent changes are
always the agent's (that one is in tests/consent/test_api.py)."""

import logging

import pytest
from rest_framework.test import APIClient

from ccp.packages import services as package_services
from ccp.packages.models import ConnectedApp
from routing.models import AgentPresence, AgentWork, RouteFeedback
from tenants import services as tenant_services
from tenants.models import ContactCenter
from tests.factories import MembershipFactory, connected_app_for, make_manifest
from tests.helpers import assert_error, partner_client, token_for

from .conftest import install, message, online, post

OTHER_CHANNEL = "+15550009"


def agent_client(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


@pytest.fixture
def held(api, channel, alice):
    """A conversation alice accepted; returns its id."""
    online(alice)
    conversation_id = post(api, message("my card was stolen")).json()["conversation_id"]
    work = AgentWork.objects.get(agent=alice)
    assert agent_client(alice).post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
    return conversation_id


def _reads(client, conversation_id) -> dict:
    base = f"/api/v1/agent/conversations/{conversation_id}"
    return {
        "detail": client.get(f"{base}/"),
        "transcript": client.get(f"{base}/messages/"),
        "summary": client.get(f"{base}/summary/"),
        "feedback": client.post(f"{base}/feedback/", {"resolved": True}, format="json"),
    }


# --- agents and conversations --------------------------------------------------------------------


def test_an_agent_who_is_not_a_participant_gets_403_on_transcript_summary_and_feedback(held, bob, caplog):
    with caplog.at_level(logging.INFO, logger="ccp.audit"):
        for response in _reads(agent_client(bob), held).values():
            assert_error(response, 403, "not_a_participant")
    assert not RouteFeedback.objects.exists()
    assert not [r for r in caplog.records if r.name == "ccp.audit"]  # a refusal is not an access


def test_the_participant_reads_and_gives_feedback_also_after_the_close(held, alice):
    client = agent_client(alice)
    transcript = client.get(f"/api/v1/agent/conversations/{held}/messages/")
    assert transcript.status_code == 200
    assert [m["text"] for m in transcript.json() if m["direction"] == "inbound"] == ["my card was stolen"]
    assert client.post(f"/api/v1/agent/conversations/{held}/close/").status_code == 200
    # closed: alice has left, but she handled it — after-conversation work needs summary and feedback
    responses = _reads(client, held)
    assert {what: r.status_code for what, r in responses.items()} == {
        "detail": 200,
        "transcript": 200,
        "summary": 200,
        "feedback": 201,
    }
    assert RouteFeedback.objects.get().source == "agent"


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_supervisors_and_admins_read_any_conversation_and_each_read_is_recorded(held, tenant, role, caplog):
    boss = MembershipFactory(tenant=tenant, role=role)
    with caplog.at_level(logging.INFO, logger="ccp.audit"):
        responses = _reads(agent_client(boss), held)
    assert {what: r.status_code for what, r in responses.items()} == {
        "detail": 200,
        "transcript": 200,
        "summary": 200,
        "feedback": 201,
    }
    audit = [r for r in caplog.records if r.name == "ccp.audit"]
    assert sorted(r.action for r in audit) == ["detail", "feedback", "summary", "transcript"]
    assert {(r.membership_id, r.role, r.conversation_id, r.tenant_id) for r in audit} == {
        (str(boss.pk), role, held, str(tenant.pk))
    }


def test_another_tenants_supervisor_gets_404(held, other_tenant):
    stranger = MembershipFactory(tenant=other_tenant, role="supervisor")
    for response in _reads(agent_client(stranger), held).values():
        assert_error(response, 404, "conversation_not_found")


# --- partners and agents -------------------------------------------------------------------------


@pytest.fixture
def two_partners(tenant, partner, other_partner, channel):
    """`partner` (channel +15550001) and `other_partner` (+15550009) both installed in `tenant`."""
    other_channel = install(tenant, other_partner, address=OTHER_CHANNEL, developer_name="rival_sms", key="sms")
    return channel.contact_center, other_channel.contact_center


@pytest.fixture
def staff(tenant, two_partners):
    ours, theirs = two_partners
    members = {
        "ours": MembershipFactory(tenant=tenant, role="agent", display_name="Ours"),
        "theirs": MembershipFactory(tenant=tenant, role="agent", display_name="Theirs"),
        "anyone": MembershipFactory(tenant=tenant, role="agent", display_name="Anyone"),
        "admin": MembershipFactory(tenant=tenant, role="admin", display_name="Admin"),
    }
    ours.agents.add(members["ours"])
    theirs.agents.add(members["theirs"])
    return members


def test_a_partner_lists_only_agents_of_its_own_contact_centers(api, other_api, staff):
    names = {a["name"] for a in api.get("/api/v1/agents/", {"to": "+15550001"}).json()}
    assert names == {"Ours", "Anyone"}  # not the other partner's agent, never the tenant admin
    rival = {a["name"] for a in other_api.get("/api/v1/agents/", {"to": OTHER_CHANNEL}).json()}
    assert rival == {"Theirs", "Anyone"}


def test_a_partner_cannot_set_another_partners_agent_or_a_tenant_admin(api, staff):
    for who in ("theirs", "admin"):
        response = api.put(f"/api/v1/agents/{staff[who].pk}/status/", {"status": "online"}, format="json")
        assert_error(response, 404, "agent_not_found")
        assert not AgentPresence.objects.filter(membership=staff[who]).exists(), who  # nothing written
    response = api.put(f"/api/v1/agents/{staff['ours'].pk}/status/", {"status": "online"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "online"
    assert AgentPresence.objects.get(membership=staff["ours"]).status == "online"


def test_partner_routing_cannot_offer_to_another_partners_agent(api, tenant, partner, staff, two_partners):
    manifest = make_manifest(developer_name="acme_sms")
    manifest["channel_definition"]["routing_owner"] = "partner"
    package_services.package_publish(package=package_services.package_create(partner=partner, manifest=manifest))
    tenant_services.package_install(  # a partner-routed package in the same contact center as the first
        tenant=tenant,
        developer_name="acme_sms",
        partner_identifier=partner.partner_identifier,
        channels=[tenant_services.ChannelSpec(channel_key="psms", channel_address_id="+15550002")],
        contact_center=two_partners[0],
    )
    conversation_id = post(api, message("route me"), to="+15550002").json()["conversation_id"]
    online(staff["theirs"])
    url = f"/api/v1/conversations/{conversation_id}/route/"
    assert_error(api.post(url, {"agent_id": str(staff["theirs"].pk)}, format="json"), 404, "agent_not_found")
    assert not AgentWork.objects.filter(agent=staff["theirs"]).exists()
    online(staff["ours"])
    assert api.post(url, {"agent_id": str(staff["ours"].pk)}, format="json").status_code == 202


def test_a_connected_app_without_contact_center_scope_cannot_act_for_contact_centers(partner, channel, staff):
    app, _secret = connected_app_for(partner)
    ConnectedApp.objects.filter(pk=app.pk).update(contact_center_scope=False)
    client = partner_client(token_for(app))
    assert_error(client.get("/api/v1/agents/", {"to": "+15550001"}), 403, "contact_center_scope_required")
    response = client.put(f"/api/v1/agents/{staff['ours'].pk}/status/", {"status": "online"}, format="json")
    assert_error(response, 403, "contact_center_scope_required")
    assert not AgentPresence.objects.filter(membership=staff["ours"]).exists()
    assert client.get("/api/v1/channels/").status_code == 200  # the rest of its scopes still work


# --- access ends at uninstall --------------------------------------------------------------------


def test_a_partner_no_longer_reads_conversations_of_a_tenant_that_uninstalled(api, channel, tenant):
    conversation_id = post(api, message("hello")).json()["conversation_id"]
    assert api.get(f"/api/v1/conversations/{conversation_id}/").status_code == 200
    tenant_services.installation_set_status(installation=channel.installation, active=False)
    assert api.get(f"/api/v1/conversations/{conversation_id}/messages/").status_code == 200  # paused, not gone
    tenant_services.installation_uninstall(installation=channel.installation, force=True)
    for suffix in ("", "messages/"):
        assert_error(api.get(f"/api/v1/conversations/{conversation_id}/{suffix}"), 404, "conversation_not_found")
    assert_error(
        api.post(f"/api/v1/conversations/{conversation_id}/feedback/", {"resolved": True}, format="json"),
        404,
        "conversation_not_found",
    )
    assert not ContactCenter.objects.filter(tenant=tenant, installations__isnull=False).exists()


# --- channel address ids: one namespace per partner ----------------------------------------------


def test_the_same_address_id_under_two_partners_reaches_each_partners_tenant(
    api, other_api, tenant, other_tenant, partner, other_partner
):
    ours = install(tenant, partner)
    theirs = install(other_tenant, other_partner, developer_name="rival_sms", key="sms")  # also +15550001
    assert ours.channel_address_id == theirs.channel_address_id
    first = post(api, message("for acme", "e1")).json()
    second = post(other_api, message("for globex", "e1")).json()  # the same entry id: not a duplicate
    assert first["entries"][0]["duplicate"] is False and second["entries"][0]["duplicate"] is False
    assert first["conversation_id"] != second["conversation_id"]
    assert [m["text"] for m in api.get(f"/api/v1/conversations/{first['conversation_id']}/messages/").json()] == [
        "for acme"
    ]
    other_messages = other_api.get(f"/api/v1/conversations/{second['conversation_id']}/messages/").json()
    assert [m["text"] for m in other_messages] == ["for globex"]
    assert_error(api.get(f"/api/v1/conversations/{second['conversation_id']}/"), 404, "conversation_not_found")
