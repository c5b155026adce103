"""contact_erase leaves no trace of the person in any table: the whole database is searched.

A contact with a unique name, address and message text goes through routing, an agent's reply,
feedback from both sides, an idempotent partner request, events and webhook deliveries; after the
erase, every text and JSON column of every table is searched for those strings.
"""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from ccp.core.models import IdempotencyKey
from ccp.events.models import Delivery, Event
from ccp.events.services import event_relay, subscription_create
from routing.models import AgentWork, RouteDecision, RouteFeedback

from .conftest import CHANNEL, online

pytestmark = pytest.mark.django_db

NAME = "Zephyrine Quarrington-Vale"
ADDRESS = "+4915199988877"
TEXT = "My parcel to 42 Quillfeather Lane never arrived"
REPLY = "Sorry about that, Zephyrine Quarrington-Vale, I am on it"
NEEDLES = [NAME, "Quarrington", ADDRESS, "4915199988877", TEXT, "Quillfeather"]
TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb")


def text_columns() -> list[tuple[str, str]]:
    """Every text-like and JSON column of every table of this database (PostgreSQL's catalog)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.data_type = ANY(%s) "
            "ORDER BY 1, 2",
            [list(TEXT_TYPES)],
        )
        return cursor.fetchall()


def hits(needles) -> list[str]:
    found = []
    with connection.cursor() as cursor:
        for table, column in text_columns():
            qn = connection.ops.quote_name
            for needle in needles:
                cursor.execute(
                    f"SELECT count(*) FROM {qn(table)} WHERE {qn(column)}::text ILIKE %s",
                    [f"%{needle}%"],
                )
                if cursor.fetchone()[0]:
                    found.append(f"{table}.{column} ∋ {needle!r}")
    return found


def test_the_grep_finds_what_is_there(tenant, channel, api):
    """The search itself can fail: before the erase it finds the person everywhere they were written."""
    response = _interaction(api)
    assert response.status_code == 201
    found = hits([NAME, TEXT])
    assert any(h.startswith("conversations_contact.name") for h in found), found
    assert any(h.startswith("conversations_message.text") for h in found), found
    assert any(h.startswith("events_event.data") for h in found), found


def _interaction(api, key="idem-erase-1"):
    return api.post(
        "/api/v1/interactions/",
        {
            "to": CHANNEL,
            "from": ADDRESS,
            "from_name": NAME,
            "entries": [{"id": "erase-e1", "type": "message", "text": TEXT}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_erase_leaves_no_personal_data_in_any_table(
    tenant, channel, api, partner, alice, django_capture_on_commit_callbacks
):
    online(alice)
    subscription_create(partner=partner, url="https://hooks.example.com/ccp", event_types=["*"])
    with django_capture_on_commit_callbacks(execute=True):
        response = _interaction(api)
    assert response.status_code == 201, response.content
    conversation_id = response.json()["conversation_id"]

    agent = APIClient()
    agent.force_login(alice.user)
    work = AgentWork.objects.get(agent=alice)
    with django_capture_on_commit_callbacks(execute=True):
        assert agent.post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
        sent = agent.post(
            f"/api/v1/agent/conversations/{conversation_id}/messages/",
            {"text": REPLY},
            format="json",
        )
        assert sent.status_code == 201, sent.content
        feedback = agent.post(
            f"/api/v1/agent/conversations/{conversation_id}/feedback/",
            {"resolved": True, "comment": f"{NAME} was happy in the end"},
            format="json",
        )
        assert feedback.status_code == 201, feedback.content
        feedback = api.post(
            f"/api/v1/conversations/{conversation_id}/feedback/",
            {"resolved": True, "rating": 5, "comment": f"About: {TEXT}"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="idem-erase-feedback",
        )
        assert feedback.status_code == 201, feedback.content
    event_relay(event_pks=list(Event.objects.filter(partner=partner).values_list("pk", flat=True)))

    # the journey wrote the person into each of the places the erase must reach
    assert RouteDecision.objects.filter(inputs__attributes__contact_name=NAME).exists()
    assert RouteFeedback.objects.filter(comment__contains="Quarrington").exists()
    assert IdempotencyKey.objects.filter(key="idem-erase-feedback", response_body__comment__icontains=TEXT).exists()
    assert Delivery.objects.exists()
    before = hits(NEEDLES)
    assert len(before) > 8, before

    out = StringIO()
    call_command("contact_erase", "--address", ADDRESS, "--tenant", "acme", stdout=out)
    result = json.loads(out.getvalue())
    assert result["contacts"] == 1 and result["messages_redacted"] >= 2

    assert hits(NEEDLES) == []
    # what stays is the structure: the conversation, its events and route log, without the person
    assert Event.objects.filter(data__conversation_id=conversation_id).exists()
    assert RouteDecision.objects.filter(work_item__reference__isnull=False).exists()
    assert Delivery.objects.exists()


def test_erase_leaves_other_contacts_alone(tenant, channel, api):
    assert _interaction(api).status_code == 201
    other = api.post(
        "/api/v1/interactions/",
        {
            "to": CHANNEL,
            "from": "+4915100000001",
            "from_name": "Otto Other",
            "entries": [{"id": "other-e1", "type": "message", "text": "Otto needs a new card"}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="idem-other",
    )
    assert other.status_code == 201
    call_command("contact_erase", "--address", ADDRESS, "--tenant", "acme", stdout=StringIO())
    assert hits(NEEDLES) == []
    remaining = hits(["Otto Other", "Otto needs a new card"])
    assert any(h.startswith("conversations_contact.name") for h in remaining), remaining
    assert any(h.startswith("events_event.data") for h in remaining), remaining
