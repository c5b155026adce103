"""The AI routing endpoints: route feedback (agent, partner), summary, package draft, supervisor A/B,
and the tenant admin's prompt templates."""

import json
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from routing import services
from routing.models import AgentWork, AiRoutingConfig, PromptTemplate, RouteFeedback, WorkItem
from tests.conversations.conftest import install, message, online, post
from tests.factories import MembershipFactory, make_manifest
from tests.helpers import assert_error, assert_partner_guarded
from tests.routing.test_engine import agent, item

from .fakes import ChatServer


@pytest.fixture
def channel(tenant, partner):
    return install(tenant, partner)


@pytest.fixture
def alice(tenant):
    return online(MembershipFactory(tenant=tenant, role="agent", display_name="Alice"))


def agent_client(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


@pytest.fixture
def conversation_id(api, channel, alice):
    response = post(api, message("Hello, my card was stolen yesterday. Please block it now. Thanks!"))
    assert response.status_code == 201, response.content
    # alice takes the offer: only a participant (or a supervisor) reads the summary and gives feedback
    accepted = agent_client(alice).post(f"/api/v1/agent/work/{AgentWork.objects.get(agent=alice).pk}/accept/")
    assert accepted.status_code == 200, accepted.content
    return response.json()["conversation_id"]


# --- feedback ---------------------------------------------------------------------------------------


def test_an_agent_records_feedback_on_the_route(conversation_id, alice):
    response = agent_client(alice).post(
        f"/api/v1/agent/conversations/{conversation_id}/feedback/",
        {"resolved": True, "rating": 5, "comment": "sorted"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    feedback = RouteFeedback.objects.get()
    assert body["source"] == "agent" and body["resolved"] is True and body["rating"] == 5
    assert str(feedback.work_item_id) == body["work_item_id"]
    assert feedback.work_item.attributes["conversation_id"] == conversation_id


def test_agent_feedback_is_validated_and_tenant_scoped(conversation_id, alice, other_tenant):
    client = agent_client(alice)
    url = f"/api/v1/agent/conversations/{conversation_id}/feedback/"
    assert_error(client.post(url, {"resolved": True, "rating": 9}, format="json"), 400)
    assert_error(client.post(url, {"rating": 3}, format="json"), 400)
    stranger = MembershipFactory(tenant=other_tenant, role="agent")
    assert_error(agent_client(stranger).post(url, {"resolved": True}, format="json"), 404, "conversation_not_found")
    assert_error(APIClient().post(url, {"resolved": True}, format="json"), 401)
    assert not RouteFeedback.objects.exists()


def test_a_partner_relays_end_user_feedback(api, conversation_id, connected_app, other_connected_app):
    url = f"/api/v1/conversations/{conversation_id}/feedback/"
    assert_partner_guarded(
        "POST",
        url,
        scope="interactions",
        owner_app=connected_app,
        other_app=other_connected_app,
        data={"resolved": False},
    )
    response = api.post(url, {"resolved": False, "comment": "still blocked"}, format="json")
    assert response.status_code == 201, response.content
    feedback = RouteFeedback.objects.get()
    assert feedback.source == "end_user" and feedback.resolved is False and feedback.comment == "still blocked"


def test_feedback_on_a_conversation_that_was_never_routed(api, partner, tenant):
    install(tenant, partner, address="+15550002", routing_owner="partner", developer_name="acme_sms", key="sms")
    conversation_id = post(api, message("hi"), to="+15550002").json()["conversation_id"]
    WorkItem.objects.all().delete()  # e.g. a conversation closed before any routing
    response = api.post(f"/api/v1/conversations/{conversation_id}/feedback/", {"resolved": True}, format="json")
    assert_error(response, 404, "not_routed")


# --- summary ------------------------------------------------------------------------------------------


def test_the_summary_is_extractive_without_a_provider_and_says_so(conversation_id, alice, settings, other_tenant):
    settings.AI_PROVIDER_BASE_URL = ""
    stranger = agent_client(MembershipFactory(tenant=other_tenant, role="agent"))
    assert_error(stranger.get(f"/api/v1/agent/conversations/{conversation_id}/summary/"), 404)
    response = agent_client(alice).get(f"/api/v1/agent/conversations/{conversation_id}/summary/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["source"] == "extractive"
    assert "card was stolen" in body["summary"] and "Thanks" not in body["summary"]
    assert "AI_PROVIDER_BASE_URL" in body["note"]


def test_the_summary_is_generated_when_a_provider_answers(conversation_id, alice, settings):
    with ChatServer() as server:
        server.content = "The customer's card was stolen; they want it blocked."
        settings.AI_PROVIDER_BASE_URL = server.url
        settings.AI_PROVIDER_MODEL = "m"
        body = agent_client(alice).get(f"/api/v1/agent/conversations/{conversation_id}/summary/").json()
        sent = server.requests[-1]["body"]["messages"][-1]["content"]
    assert body == {"summary": server.content, "source": "provider", "note": ""}
    assert "card was stolen" in sent


def test_a_failing_provider_gives_the_extractive_summary_with_the_reason(conversation_id, alice, settings):
    with ChatServer() as server:
        server.status = 500
        settings.AI_PROVIDER_BASE_URL = server.url
        settings.AI_PROVIDER_MODEL = "m"
        body = agent_client(alice).get(f"/api/v1/agent/conversations/{conversation_id}/summary/").json()
    assert body["source"] == "extractive" and "failed" in body["note"] and "card was stolen" in body["summary"]


# --- package draft ----------------------------------------------------------------------------------


def test_drafting_a_package_without_a_provider_is_503(api, connected_app, other_connected_app, settings):
    settings.AI_PROVIDER_BASE_URL = ""
    url = "/api/v1/packages/draft/"
    assert_partner_guarded("POST", url, scope="packages", owner_app=connected_app, data={"description": "x"})
    error = assert_error(api.post(url, {"description": "An SMS gateway"}, format="json"), 503)
    assert error["code"] == "ai_provider_not_configured" and "AI_PROVIDER_BASE_URL" in error["message"]


def test_a_drafted_manifest_is_validated_and_nothing_is_created(api, settings):
    from ccp.packages.models import CommunicationPackage

    good = make_manifest(developer_name="acme_sms")
    with ChatServer() as server:
        settings.AI_PROVIDER_BASE_URL = server.url
        settings.AI_PROVIDER_MODEL = "drafter"
        server.content = "Here you go:\n```json\n" + json.dumps(good) + "\n```"
        body = api.post("/api/v1/packages/draft/", {"description": "An SMS gateway"}, format="json").json()
        assert body["valid"] is True and body["problems"] == {} and body["manifest"] == good
        assert "An SMS gateway" in server.requests[-1]["body"]["messages"][-1]["content"]

        server.content = json.dumps({"name": "half a manifest"})
        body = api.post("/api/v1/packages/draft/", {"description": "An SMS gateway"}, format="json").json()
        assert body["valid"] is False and body["problems"] and body["manifest"] == {"name": "half a manifest"}

        server.content = "I cannot help with that."
        body = api.post("/api/v1/packages/draft/", {"description": "An SMS gateway"}, format="json").json()
        assert body["manifest"] is None and "manifest" in body["problems"]
    assert not CommunicationPackage.objects.exists()


# --- supervisor A/B -----------------------------------------------------------------------------------


def test_the_supervisor_sees_outcomes_per_arm(client, tenant):
    AiRoutingConfig.objects.create(tenant=tenant, enabled=True, share=50)
    worker = agent(tenant, "Worker", capacity=50)
    by_arm = {"ai": [], "platform": []}
    for n in range(40):
        work_item = item(tenant, f"ref-{n}", attributes={"first_message": "I lost my card"})
        by_arm[work_item.decisions.get().arm].append(work_item)
    assert by_arm["ai"] and by_arm["platform"]
    now = timezone.now()
    for arm, items in by_arm.items():
        for n, work_item in enumerate(items[:2]):
            work = AgentWork.objects.get(work_item=work_item)
            with transaction.atomic():
                services.work_accept(work=work)
                services.work_close(work=work)
            AgentWork.objects.filter(pk=work.pk).update(
                answered_at=now - timedelta(seconds=100 if arm == "ai" else 300), closed_at=now
            )
            RouteFeedback.objects.create(tenant=tenant, work_item=work_item, source="agent", resolved=n == 0)
    transfer = item(tenant, by_arm["platform"][0].reference, is_transfer=True, attributes={})
    assert transfer.decisions.get().arm == ""  # a transfer names its target: no A/B arm
    supervisor = MembershipFactory(tenant=tenant, role="supervisor")
    client.force_login(supervisor.user)
    body = client.get("/api/v1/supervisor/overview/").json()
    assert body["ab"]["enabled"] is True and body["ab"]["share"] == 50
    arms = {row["arm"]: row for row in body["ab"]["arms"]}
    assert arms["ai"]["routed"] == len(by_arm["ai"]) and arms["platform"]["routed"] == len(by_arm["platform"])
    assert arms["ai"]["resolution_rate"] == 0.5 and arms["ai"]["feedback"] == 2
    assert arms["platform"]["transfers"] == 1 and arms["ai"]["transfers"] == 0
    assert arms["ai"]["mean_handle_seconds"] == pytest.approx(100, abs=1)
    assert arms["platform"]["mean_handle_seconds"] == pytest.approx(300, abs=1)
    assert arms["ai"]["placed_by_ai"] == 0  # no tuned model yet: the AI arm fell back every time
    assert worker.pk
    page = client.get("/supervisor/")
    assert b"AI routing A/B" in page.content


# --- prompt templates in the admin ------------------------------------------------------------------


def test_a_tenant_admin_edits_prompt_templates_and_unknown_placeholders_are_named(client, tenant):
    admin = MembershipFactory(tenant=tenant, role="admin")
    client.force_login(admin.user)
    url = "/admin/routing/prompttemplate/add/"
    form = {"tenant": tenant.pk, "name": "routing-v2", "purpose": "routing", "is_active": "on"}
    response = client.post(url, {**form, "template": "Route {first_messages} for {tenat} and {agent_list}."})
    assert response.status_code == 200
    text = response.content.decode()
    assert "unknown placeholders" in text and "{tenat}" in text and "{agent_list}" in text
    assert not PromptTemplate.objects.exists()
    response = client.post(url, {**form, "template": "Route {first_messages} among {available_agents}."})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert PromptTemplate.objects.get().tenant == tenant
    draft = {**form, "name": "draft", "purpose": "package_draft", "template": "Draft {description} for {tenant}"}
    assert "{tenant}" in client.post(url, draft).content.decode()


def test_a_tenant_configures_its_own_ai_routing_only(client, tenant, other_tenant):
    AiRoutingConfig.objects.create(tenant=other_tenant, enabled=True)
    admin = MembershipFactory(tenant=tenant, role="admin")
    client.force_login(admin.user)
    listing = client.get("/admin/routing/airoutingconfig/").content.decode()
    assert other_tenant.name not in listing
    assert uuid  # keep the import used in one place
