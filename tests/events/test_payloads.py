"""Typed event payloads: one declared schema per standard type, every published event checked against
it, the docs page and the AsyncAPI document generated from the same declarations."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from ccp.events.choices import STANDARD_EVENT_TYPES
from ccp.events.management.commands.events_docs import docs_with_payloads
from ccp.events.models import Event
from ccp.events.payloads import EVENT_PAYLOAD_SCHEMAS, EventPayloadMismatch, payload_problems
from ccp.events.services import event_publish
from conversations import services as conversation_services
from conversations.models import Conversation
from routing.models import AgentWork
from tests.conversations.conftest import install, message, online, post
from tests.factories import MembershipFactory

ENVELOPE_KEYS = {"id", "type", "tenant", "occurred_at", "data"}


@pytest.fixture(autouse=True)
def _check_payloads(settings):
    settings.EVENTS_VALIDATE_PAYLOADS = True  # tests/events/conftest.py turns it off for the bus tests


def test_every_standard_type_has_one_declared_schema_that_forbids_undeclared_fields():
    assert set(EVENT_PAYLOAD_SCHEMAS) == set(STANDARD_EVENT_TYPES)
    for type_, schema in EVENT_PAYLOAD_SCHEMAS.items():
        Draft202012Validator.check_schema(schema)
        assert schema["additionalProperties"] is False, type_
        assert set(schema["required"]) <= set(schema["properties"]), type_


def test_a_payload_that_drifts_from_its_declaration_is_refused_at_publish(tenant):
    agent = MembershipFactory(tenant=tenant, role="agent")
    good = {"agent_id": str(agent.pk), "status": "away", "since": "2026-12-01T10:00:00Z", "source": "agent"}
    assert payload_problems("agent.status_changed", good) == []
    assert payload_problems("agent.status_changed", {**good, "colour": "red"})  # undeclared field
    assert payload_problems("agent.status_changed", {**good, "status": "napping"})  # not an allowed value
    missing = {k: v for k, v in good.items() if k != "since"}
    assert any("since" in p for p in payload_problems("agent.status_changed", missing))
    with pytest.raises(EventPayloadMismatch), transaction.atomic():
        event_publish(tenant=tenant, type="agent.status_changed", data={**good, "colour": "red"})
    assert not Event.objects.filter(type="agent.status_changed").exists()


@pytest.mark.django_db(transaction=True)
def test_a_whole_conversation_publishes_only_declared_payloads(tenant, partner, api):
    """Inbound, offer, accept, reply, receipt, typing both ways, transfer, close: every event the domain
    published is valid against its declaration (the publish check would have raised otherwise)."""
    install(tenant, partner)
    alice = online(MembershipFactory(tenant=tenant, role="agent", display_name="Alice"), {"messaging": 2})
    bob = online(MembershipFactory(tenant=tenant, role="agent", display_name="Bob"), {"messaging": 2})
    assert post(api, message("Hello", "e1")).status_code == 201
    conversation = Conversation.objects.get()
    offer = AgentWork.objects.get(status="offered")
    first = alice if offer.agent_id == alice.pk else bob
    second = bob if first is alice else alice
    conversation_services.agent_work_accept(agent=first, work=offer)
    reply = conversation_services.message_send(agent=first, conversation=conversation, text="Hi, how can I help?")
    assert post(api, {"id": "r1", "type": "delivered", "message_id": str(reply.id)}).status_code == 201
    assert post(api, {"id": "t1", "type": "typing_started"}, {"id": "t2", "type": "typing_stopped"}).status_code == 201
    conversation_services.agent_typing(agent=first, conversation=conversation, typing=True)
    conversation_services.conversation_transfer(agent=first, conversation=conversation, to_agent_id=str(second.pk))
    transfer = AgentWork.objects.get(status="offered", agent=second)
    conversation_services.agent_work_accept(agent=second, work=transfer)
    conversation_services.conversation_close(conversation=conversation, closed_by="agent", agent=second)

    published = list(Event.objects.all())
    seen = {e.type for e in published}
    assert {
        "conversation.created",
        "message.created",
        "message.status_changed",
        "work.offered",
        "work.accepted",
        "work.closed",
        "typing.started",
        "typing.stopped",
        "conversation.transferred",
        "conversation.closed",
        "agent.status_changed",
        "agent.capacity_changed",
    } <= seen
    for event in published:
        if event.type in EVENT_PAYLOAD_SCHEMAS:
            assert payload_problems(event.type, event.data) == [], event.type


def test_docs_events_md_is_generated_from_the_declarations():
    text = (Path(django_settings.BASE_DIR) / "docs" / "events.md").read_text()
    assert docs_with_payloads(text) == text, "docs/events.md is out of date: run `manage.py events_docs`"


def test_the_schemas_are_served_to_anyone(db):
    response = APIClient().get("/api/v1/events/schemas/")
    assert response.status_code == 200
    schemas = response.json()["schemas"]
    assert set(schemas) == set(STANDARD_EVENT_TYPES)
    assert schemas["work.offered"]["data"]["properties"]["expires_at"]["format"] == "date-time"
    assert schemas["message.created"]["description"] == STANDARD_EVENT_TYPES["message.created"]


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document, ref):
    assert ref.startswith("#/"), ref
    node = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_the_asyncapi_document_describes_webhooks_and_the_stream_for_every_type(db, settings):
    settings.ALLOWED_HOSTS = ["ccp.example.com"]
    response = APIClient().get("/api/v1/events/asyncapi.json", HTTP_HOST="ccp.example.com")
    assert response.status_code == 200
    document = response.json()
    assert document["asyncapi"] == "3.0.0"
    assert document["servers"]["platform"]["host"] == "ccp.example.com"
    assert {op["action"] for op in document["operations"].values()} == {"receive"}
    for type_ in STANDARD_EVENT_TYPES:
        key = type_.replace(".", "_")
        envelope = document["components"]["messages"][key]["payload"]
        assert set(envelope["properties"]) == ENVELOPE_KEYS and envelope["properties"]["type"]["const"] == type_
        assert "CCP-Signature" in document["components"]["messages"][f"webhook_{key}"]["headers"]["properties"]
        assert f"#/channels/stream/messages/{key}" in [
            m["$ref"] for m in document["operations"]["receiveStream"]["messages"]
        ]
    for ref in set(_refs(document)):  # every reference resolves inside the document
        _resolve(document, ref)
