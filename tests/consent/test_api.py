"""The consent APIs: partner GET/PUT /api/v1/consent/ (FIG 16A/16B) and the agent's /api/v1/agent/consent/."""

import pytest

from ccp.events.models import Event
from consent.models import ConsentRecord
from tests.factories import MembershipFactory
from tests.helpers import assert_error, assert_partner_guarded

from .conftest import CHANNEL, USER, agent_client, history, install

URL = "/api/v1/consent/"


@pytest.mark.django_db
def test_partner_owner_sets_and_reads_consent(api, partner_channel):
    put = api.put(URL, {"to": CHANNEL, "address": USER, "status": "opt_in", "source": "web_form"}, format="json")
    assert put.status_code == 200, put.content
    body = put.json()
    assert body["status"] == "opt_in" and body["allowed_outbound"] is True and body["owner"] == "partner"
    assert body["source"] == "web_form" and body["updated_at"]
    api.put(URL, {"to": CHANNEL, "address": USER, "status": "opt_out", "source": "api"}, format="json")
    got = api.get(URL, {"to": CHANNEL, "address": USER}).json()
    assert got["status"] == "opt_out" and got["allowed_outbound"] is False and "opted out" in got["reason"]
    assert history() == [("unknown", "opt_in", False, "web_form"), ("opt_in", "opt_out", False, "api")]
    assert [e.data["status"] for e in Event.objects.filter(type="consent.changed").order_by("pk")] == [
        "opt_in",
        "opt_out",
    ]


@pytest.mark.django_db
def test_unknown_address_is_explained_without_creating_anything(api, partner_channel):
    body = api.get(URL, {"to": CHANNEL, "address": "+1999"}).json()
    assert body == {
        "to": CHANNEL,
        "address": "+1999",
        "status": "unknown",
        "pending_opt_in": False,
        "allowed_outbound": False,
        "owner": "partner",
        "source": "",
        "updated_at": None,
        "reason": body["reason"],
    }
    assert "explicit opt-in" in body["reason"]
    assert not ConsentRecord.objects.exists()


@pytest.mark.django_db
def test_partner_is_refused_when_the_platform_owns_consent(api, platform_channel):
    response = api.put(URL, {"to": CHANNEL, "address": USER, "status": "opt_in", "source": "api"}, format="json")
    error = assert_error(response, 403, "not_consent_owner")
    assert "platform owns consent" in error["message"]
    assert not ConsentRecord.objects.exists() and not Event.objects.filter(type="consent.changed").exists()
    assert api.get(URL, {"to": CHANNEL, "address": USER}).json()["owner"] == "platform"  # reading is fine


@pytest.mark.django_db
def test_bad_input_is_400(api, partner_channel):
    assert_error(api.get(URL, {"to": CHANNEL}), 400, "invalid")
    assert_error(api.put(URL, {"to": CHANNEL, "address": USER, "status": "unknown"}, format="json"), 400)
    assert_error(api.put(URL, {"to": CHANNEL, "address": USER, "status": "opt_in", "source": "x"}, format="json"), 400)


@pytest.mark.django_db
def test_negative_suite(partner_channel, connected_app, other_connected_app):
    data = {"to": CHANNEL, "address": USER, "status": "opt_out", "source": "api"}
    assert_partner_guarded(
        "put", URL, scope="consent", owner_app=connected_app, other_app=other_connected_app, data=data
    )
    assert_partner_guarded(
        "get", f"{URL}?to={CHANNEL}&address=x", scope="consent", owner_app=connected_app, other_app=other_connected_app
    )
    assert not ConsentRecord.objects.exists()


@pytest.mark.django_db
def test_agent_changes_platform_owned_consent_but_not_partner_owned(platform_channel, agent, tenant, partner):
    client = agent_client(agent)
    response = client.put("/api/v1/agent/consent/", {"to": CHANNEL, "address": USER, "status": "opt_in"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "opt_in" and response.json()["source"] == "agent"
    assert ConsentRecord.objects.get().changes.get().actor == f"agent:{agent.pk}"
    assert client.get("/api/v1/agent/consent/", {"to": CHANNEL, "address": USER}).json()["allowed_outbound"] is True

    install(tenant, partner, consent_owner="partner", address="+15550009")
    refused = client.put(
        "/api/v1/agent/consent/", {"to": "+15550009", "address": USER, "status": "opt_in"}, format="json"
    )
    assert_error(refused, 403, "not_consent_owner")


@pytest.mark.django_db
@pytest.mark.parametrize("sent", ["keyword", "web_form", "api", "confirmation", 7])
def test_an_agents_consent_change_always_has_source_agent(platform_channel, agent, sent):
    response = agent_client(agent).put(
        "/api/v1/agent/consent/", {"to": CHANNEL, "address": USER, "status": "opt_out", "source": sent}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["source"] == "agent"
    record = ConsentRecord.objects.get()
    assert record.source == "agent"
    assert [(c.source, c.actor) for c in record.changes.all()] == [("agent", f"agent:{agent.pk}")]


@pytest.mark.django_db
def test_agent_consent_is_scoped_to_the_agents_tenant(platform_channel, other_tenant):
    stranger = agent_client(MembershipFactory(tenant=other_tenant, role="agent"))
    response = stranger.put(
        "/api/v1/agent/consent/", {"to": CHANNEL, "address": USER, "status": "opt_out"}, format="json"
    )
    assert_error(response, 404, "unknown_channel")
    assert_error(stranger.get("/api/v1/agent/consent/", {"to": CHANNEL, "address": USER}), 404, "unknown_channel")
