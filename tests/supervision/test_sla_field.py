"""The supervision list's and the workspace state's `sla`: the most urgent running clock, live."""

from datetime import datetime, timedelta

import pytest

from conversations.models import SlaClock, SlaPolicy
from tests.conversations.conftest import message, post

from .conftest import session

pytestmark = pytest.mark.django_db
LIST = "/api/v1/agent/supervision/conversations/"


def _shift(seconds: float) -> None:
    for clock in SlaClock.objects.all():
        shift = timedelta(seconds=seconds)
        SlaClock.objects.filter(pk=clock.pk).update(
            started_at=clock.started_at - shift, warn_at=clock.warn_at - shift, due_at=clock.due_at - shift
        )


def test_the_sla_field_shows_the_clock_due_first_and_its_state(tenant, floor, api):
    SlaPolicy.objects.create(
        tenant=tenant, name="Chat", channel=floor.channel, first_response_seconds=100, resolution_seconds=1000
    )
    post(api, message("anyone there?", entry_id="e9"), sender="+4915100000")
    new = next(r for r in session(floor.sam).get(LIST).json() if r["id"] != floor.conversation_id)
    first = SlaClock.objects.get(conversation_id=new["id"], target="first_response")
    assert new["sla"]["target"] == "first_response" and new["sla"]["state"] == "ok"
    assert abs(datetime.fromisoformat(new["sla"]["due_at"]) - first.due_at) < timedelta(milliseconds=1)
    held = next(r for r in session(floor.sam).get(LIST).json() if r["id"] == floor.conversation_id)
    assert held["sla"] is None  # its messages came before the policy

    _shift(85)  # 85 of 100 s: past the warning time
    new = next(r for r in session(floor.sam).get(LIST).json() if r["id"] != floor.conversation_id)
    assert new["sla"]["state"] == "warning"
    _shift(20)
    new = next(r for r in session(floor.sam).get(LIST).json() if r["id"] != floor.conversation_id)
    assert new["sla"] == {**new["sla"], "target": "first_response", "state": "breached"}


def test_the_workspace_state_carries_each_held_conversations_sla(tenant, floor, api):
    SlaPolicy.objects.create(tenant=tenant, name="Chat", channel=floor.channel, next_response_seconds=120)
    reply = session(floor.alice).post(
        f"/api/v1/agent/conversations/{floor.conversation_id}/messages/", {"text": "hello"}, format="json"
    )
    assert reply.status_code in (200, 201), reply.content
    post(api, message("thanks, and?", entry_id="e2"))
    [held] = session(floor.alice).get("/api/v1/agent/state/").json()["conversations"]
    assert held["sla"]["target"] == "next_response" and held["sla"]["state"] == "ok"
    clock = SlaClock.objects.get(target="next_response")
    assert clock.due_at - clock.started_at == timedelta(seconds=120)
