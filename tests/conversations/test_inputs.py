"""The one declaration of POST /api/v1/interactions/ (conversations/services/inputs.py): the OpenAPI
document shows it, and its checks answer with the sentences and codes partners have always seen."""

import json

import pytest
from rest_framework.test import APIClient

from ccp.core.errors import Invalid
from conversations import services
from conversations.models import Conversation, Message
from tests.helpers import assert_error

from .conftest import CHANNEL, message


def _component(name: str) -> dict:
    schema = json.loads(APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/json").content)
    return schema["components"]["schemas"][name]


@pytest.mark.django_db
def test_the_openapi_document_shows_the_declaration_the_view_checks(settings):
    settings.MESSAGE_MAX_CHARS = 321  # built from settings when asked, not at import
    component = _component("InteractionInputRequest")
    declared = services.interaction_schema()
    assert component["required"] == declared["required"]
    assert component["properties"] == declared["properties"]
    assert "321" in json.dumps(component)
    reply = _component("AgentMessagesInputRequest")
    assert reply["anyOf"] == services.reply_schema()["anyOf"]


def _details(body) -> tuple[str, dict]:
    with pytest.raises(Invalid) as exc:
        services.entries_parse(body)
    return exc.value.code, exc.value.details


def test_every_entry_problem_at_once_by_path_with_its_sentence(settings):
    code, details = _details(
        [
            "x",
            {"type": "shout"},
            {"type": "message", "text": "hi"},
            {"type": "message", "id": "a", "text": "x" * (settings.MESSAGE_MAX_CHARS + 1)},
            {"type": "message", "id": "b", "text": "hi", "timestamp": "2026-11-25T10:00:00"},
            {"type": "read"},
            {"type": "message", "id": "c", "attachments": [{"url": "ftp://x", "size": -1}, None]},
        ]
    )
    assert code == "empty_message"  # the first code that is not plain `invalid`
    assert details == {
        "entries[0]": ["must be an object"],
        "entries[1].type": ["must be one of message, typing_started, typing_stopped, delivered, read, delivery_failed"],
        "entries[2].id": ["is required: it makes re-sending safe"],
        "entries[3].text": [f"must be text of at most {settings.MESSAGE_MAX_CHARS} characters"],
        "entries[3]": ["a message needs text or an attachment"],
        "entries[4].timestamp": ["must be an ISO 8601 time with a zone, e.g. 2026-11-25T10:00:00Z"],
        "entries[5].message_id": ["is required: the id of our outbound message"],
        "entries[6].attachments[0].url": ["must be an http(s) URL"],
        "entries[6].attachments[0].size": ["must be a whole number of bytes"],
        "entries[6].attachments[1]": ["must be an object with url, content_type, name, size"],
    }


def test_a_list_that_is_not_one_hides_the_checks_of_its_items():
    code, details = _details([message(attachments=[{"url": "x"}] * 11)])
    assert (code, details) == ("invalid", {"entries[0].attachments": ["must be a list of at most 10 attachments"]})


def test_a_large_attachment_has_its_own_code_and_a_float_is_no_byte_count(settings):
    code, details = _details([message(attachments=[{"url": "https://x.example/a", "size": 10**12}])])
    assert code == "attachment_too_large"
    assert details == {
        "entries[0].attachments[0].size": [f"is over the limit of {settings.ATTACHMENT_MAX_BYTES} bytes"]
    }
    assert _details([message(attachments=[{"url": "https://x.example/a", "size": 1.0}])])[0] == "invalid"


def test_valid_entries_are_handed_on_cleaned():
    entries = services.entries_parse(
        [
            message(attachments=[{"url": "https://x.example/a.png", "name": None}]),
            {"type": "delivery_failed", "message_id": "m", "reason": 131047},
            {"type": "typing_started", "id": None, "timestamp": "2026-11-25T10:00:00+01:00"},
        ]
    )
    assert entries[0].attachments == [
        {"url": "https://x.example/a.png", "content_type": "application/octet-stream", "name": "", "size": None}
    ]
    assert (entries[1].message_id, entries[1].reason) == ("m", "131047")
    # the same instant, kept in UTC (PostgreSQL refuses offsets past ±15:59)
    assert entries[2].timestamp.isoformat() == "2026-11-25T09:00:00+00:00"


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"from": "x"}, {"to": ["is required"], "entries": ["is required"]}),
        ({"entries": []}, {"to": ["is required"], "from": ["is required"]}),
    ],
)
def test_the_envelope_is_checked_before_the_channel(api, body, details):
    response = api.post("/api/v1/interactions/", body, format="json")
    assert assert_error(response, 400, "invalid")["details"] == details


def test_an_impossible_time_is_refused_not_a_server_error(api, channel):
    body = {"to": CHANNEL, "from": "x", "entries": [{**message(), "timestamp": "2026-02-30T10:00:00Z"}]}
    assert assert_error(api.post("/api/v1/interactions/", body, format="json"), 400, "invalid")["details"] == {
        "entries[0].timestamp": ["must be an ISO 8601 time with a zone, e.g. 2026-11-25T10:00:00Z"]
    }
    assert not Message.objects.exists() and not Conversation.objects.exists()


def test_an_unknown_channel_is_told_before_a_bad_from_or_bad_entries(api, channel):
    body = {"to": "+nope", "from": "", "entries": "nope"}
    assert_error(api.post("/api/v1/interactions/", body, format="json"), 404, "unknown_channel")
    response = api.post("/api/v1/interactions/", {**body, "to": CHANNEL}, format="json")
    assert assert_error(response, 400, "invalid")["details"] == {"from": ["is required"]}
