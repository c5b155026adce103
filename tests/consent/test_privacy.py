"""Privacy commands: consent_export (everything about an address, as JSON) and contact_erase."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from consent import services as consent_services
from consent.models import ConsentChange, ConsentRecord
from conversations.models import Contact, Conversation, EndUserAddress, Message

from .conftest import CHANNEL, USER, agent_client, outbound_texts, say

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _history(platform_channel, api):
    say(api, "My card is blocked", "e1")
    say(api, "STOP", "e2")


def test_export_prints_consent_history_and_conversations(api, platform_channel, other_tenant):
    _history(platform_channel, api)
    data = json.loads(run("consent_export", "--address", USER))
    assert data["address"] == USER and [t["tenant"] for t in data["tenants"]] == ["acme"]
    acme = data["tenants"][0]
    record = acme["consent"][0]
    assert record["channel_address_id"] == CHANNEL and record["status"] == "opt_out"
    assert [(h["old_status"], h["new_status"], h["source"]) for h in record["history"]] == [
        ("unknown", "opt_out", "keyword")
    ]
    contact = acme["contacts"][0]
    assert contact["name"] == "Ann" and contact["addresses"] == [{"channel_address_id": CHANNEL, "address": USER}]
    texts = [m["text"] for m in contact["conversations"][0]["messages"] if m["direction"] != "system"]
    assert texts[:2] == ["My card is blocked", "STOP"]
    assert json.loads(run("consent_export", "--address", USER, "--tenant", "globex"))["tenants"] == []
    with pytest.raises(CommandError):
        run("consent_export", "--address", USER, "--tenant", "nope")


def test_erase_removes_personal_data_and_keeps_hashed_consent_history(api, platform_channel, tenant, settings):
    settings.CONSENT_ERASE_SALT = "deployment-salt"
    _history(platform_channel, api)
    result = json.loads(run("contact_erase", "--address", USER, "--tenant", "acme"))
    assert result["contacts"] == 1 and result["addresses_removed"] == 1 and result["consent_rows_hashed"] == 2
    contact = Contact.objects.get()
    assert contact.name == "" and contact.erased_at is not None
    assert not EndUserAddress.objects.exists()
    assert set(Message.objects.values_list("text", flat=True)) == {"[erased]"}
    assert not Message.objects.exclude(sender_name="").exists()
    hashed = consent_services.address_hash(USER)
    assert hashed.startswith("sha256:") and USER not in hashed
    assert Conversation.objects.get().end_user_address == hashed
    change = ConsentChange.objects.get()
    assert (change.address, change.old_status, change.new_status) == (hashed, "unknown", "opt_out")
    assert ConsentRecord.objects.get().address == hashed
    # the export still finds the kept consent history by the address the person gives
    data = json.loads(run("consent_export", "--address", USER, "--tenant", "acme"))
    assert data["tenants"][0]["consent"][0]["status"] == "opt_out" and data["tenants"][0]["contacts"] == []


def test_the_hash_depends_on_the_deployment_salt(settings):
    settings.CONSENT_ERASE_SALT = "one"
    first = consent_services.address_hash(USER)
    settings.CONSENT_ERASE_SALT = "two"
    assert consent_services.address_hash(USER) != first


def test_erase_is_scoped_to_the_tenant(api, platform_channel, other_tenant):
    _history(platform_channel, api)
    run("contact_erase", "--address", USER, "--tenant", "globex")
    assert Contact.objects.get().name == "Ann" and ConsentChange.objects.get().address == USER


def test_an_erased_address_that_opted_out_stays_opted_out(api, platform_channel, alice):
    platform_channel.settings = {"flow": {"greeting": "Hello!"}}
    platform_channel.save()
    _history(platform_channel, api)  # greeting, then STOP and its confirmation
    run("contact_erase", "--address", USER, "--tenant", "acme")
    Conversation.objects.update(status="closed")
    say(api, "hi, it's me again", "e3")
    assert outbound_texts() == []  # the erased messages are redacted; nothing new went out
    assert not Message.objects.filter(direction="outbound").exclude(text="[erased]").exists()
    Conversation.objects.update(status="closed")
    response = agent_client(alice).post(
        "/api/v1/agent/outbound/", {"channel_address_id": CHANNEL, "address": USER, "text": "offer"}, format="json"
    )
    assert (
        response.status_code == 403 and "before their personal data was erased" in response.json()["error"]["message"]
    )
