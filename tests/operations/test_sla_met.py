"""sla_met against a hand-computed fixture (definition and clock rules: docs/reports.md, "SLA")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import SlaClock
from routing.models import Queue

from .conftest import at, contact, conversation, item, session_client

pytestmark = pytest.mark.django_db
URL = "/api/v1/agent/reports/summary/"


def clock(conv, target, started, due, stopped=None):
    return SlaClock.objects.create(
        tenant=conv.tenant,
        conversation=conv,
        policy_name="Chat",
        target=target,
        target_seconds=60,
        started_at=at(started),
        due_at=due if due is None or not isinstance(due, str) else at(due),
        stopped_at=stopped and at(stopped),
    )


@pytest.fixture
def clocks(tenant, channel, other_tenant):
    ann = contact(tenant)
    # --- 2 November: c1 met, c2 breached (stopped late), c3 still running and not due (not counted)
    c1 = conversation(tenant, channel, ann, "2026-11-02 10:00:00", closed="2026-11-02 10:50:00")
    clock(c1, "first_response", "2026-11-02 10:00:00", "2026-11-02 10:05:00", "2026-11-02 10:03:00")
    clock(c1, "resolution", "2026-11-02 10:00:00", "2026-11-02 11:00:00", "2026-11-02 10:50:00")
    c2 = conversation(tenant, channel, ann, "2026-11-02 11:00:00")
    clock(c2, "first_response", "2026-11-02 11:00:00", "2026-11-02 11:05:00", "2026-11-02 11:07:00")
    c3 = conversation(tenant, channel, ann, "2026-11-02 12:00:00")
    clock(c3, "resolution", "2026-11-02 12:00:00", timezone.now() + timedelta(days=1))
    # --- 3 November: c4 running past due (breached), c5 one of two clocks late, c6 no clock,
    # c7 a clock whose calendar never opens (no due time), stopped: met
    c4 = conversation(tenant, channel, ann, "2026-11-03 09:00:00")
    clock(c4, "resolution", "2026-11-03 09:00:00", "2026-11-03 10:00:00")
    c5 = conversation(tenant, channel, ann, "2026-11-03 09:30:00")
    clock(c5, "first_response", "2026-11-03 09:30:00", "2026-11-03 09:35:00", "2026-11-03 09:31:00")
    clock(c5, "next_response", "2026-11-03 09:40:00", "2026-11-03 09:45:00", "2026-11-03 09:50:00")
    conversation(tenant, channel, ann, "2026-11-03 10:00:00")
    c7 = conversation(tenant, channel, ann, "2026-11-03 11:00:00")
    clock(c7, "first_response", "2026-11-03 11:00:00", None, "2026-11-03 11:30:00")
    # another tenant's clock in the same hours never counts here
    other = conversation(other_tenant, channel, contact(other_tenant), "2026-11-02 10:00:00")
    clock(other, "first_response", "2026-11-02 10:00:00", "2026-11-02 10:05:00", "2026-11-02 10:09:00")
    return {"c1": c1, "c2": c2}


def test_sla_met_is_the_share_of_settled_conversations_whose_clocks_all_stopped_in_time(supervisor, clocks):
    response = session_client(supervisor).get(URL, {"from": "2026-11-02", "to": "2026-11-03", "interval": "day"})
    assert response.status_code == 200, response.content
    day1, day2 = response.json()["rows"]
    assert day1["sla_met"] == pytest.approx(1 / 2)  # c1 met, c2 not; c3 pending
    assert day2["sla_met"] == pytest.approx(1 / 3)  # c4 and c5 not, c7 met; c6 has no clock
    assert response.json()["total"]["sla_met"] == pytest.approx(2 / 5)


def test_sla_met_follows_the_queue_filter_and_is_empty_without_clocks(tenant, supervisor, clocks):
    queue = Queue.objects.create(tenant=tenant, name="billing")
    item(tenant, "2026-11-02 10:00:01", queue=queue, conversation_id=str(clocks["c1"].pk))
    item(tenant, "2026-11-02 11:00:01", queue=queue, conversation_id=str(clocks["c2"].pk))
    client = session_client(supervisor)
    body = client.get(URL, {"from": "2026-11-02", "to": "2026-11-02", "interval": "day", "queue": "billing"}).json()
    assert body["total"]["sla_met"] == pytest.approx(1 / 2)
    empty = client.get(URL, {"from": "2026-11-05", "to": "2026-11-05", "interval": "day"}).json()
    assert empty["total"]["sla_met"] is None
