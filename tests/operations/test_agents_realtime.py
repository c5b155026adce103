"""The agents and real-time reports against hand-computed fixtures."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from routing import services as routing_services
from routing.models import Queue, WorkItem
from tests.factories import MembershipFactory

from .conftest import item, session_client, span, work

pytestmark = pytest.mark.django_db
AGENTS = "/api/v1/agent/reports/agents/"
REALTIME = "/api/v1/agent/reports/realtime/"


def test_agents_report(tenant, supervisor, alice, bob):
    span(alice, "online", "2026-11-02 09:00:00", "2026-11-02 10:00:00")
    span(alice, "away", "2026-11-02 10:00:00", "2026-11-02 10:30:00")
    span(alice, "busy", "2026-11-02 10:30:00", "2026-11-02 11:00:00")
    span(alice, "offline", "2026-11-02 11:00:00", None)
    span(bob, "online", "2026-11-01 23:00:00", "2026-11-02 01:00:00")  # one hour of it on the 2nd
    a = item(tenant, "2026-11-02 09:30:00")
    work(a, alice, answered="2026-11-02 09:30:00", closed="2026-11-02 09:40:00", ended="2026-11-02 09:45:00")
    b = item(tenant, "2026-11-02 10:35:00")
    work(b, alice, answered="2026-11-02 10:35:00", closed="2026-11-02 10:50:00")
    c = item(tenant, "2026-11-02 00:10:00")
    work(c, bob, answered="2026-11-02 00:10:00", closed="2026-11-02 00:40:00")
    response = session_client(supervisor).get(AGENTS, {"from": "2026-11-02", "to": "2026-11-02"})
    assert response.status_code == 200, response.content
    rows = {r["name"]: r for r in response.json()["agents"]}
    assert set(rows) == {"Alice", "Bob", "Sue"}  # agents and supervisors; no bot is a member
    alice_row = rows["Alice"]
    assert alice_row["handled"] == 2
    assert alice_row["aht_seconds"] == pytest.approx((600 + 300 + 900) / 2)
    assert alice_row["acw_seconds"] == pytest.approx(300 / 2)
    assert (alice_row["online_seconds"], alice_row["busy_seconds"], alice_row["away_seconds"]) == (3600, 1800, 1800)
    # online or busy 90 min; working while so: 09:30–09:45 and 10:35–10:50 = 30 min
    assert alice_row["occupancy"] == pytest.approx(30 / 90)
    bob_row = rows["Bob"]
    assert bob_row["online_seconds"] == 3600 and bob_row["occupancy"] == pytest.approx(30 / 60)
    assert rows["Sue"]["handled"] == 0 and rows["Sue"]["occupancy"] is None
    # the agents add up to the summary's total
    summary = session_client(supervisor).get("/api/v1/agent/reports/summary/", {"from": "2026-11-02"}).json()
    assert summary["total"]["handled"] == sum(r["handled"] for r in rows.values()) == 3
    lines = list(csv.reader(io.StringIO(session_client(supervisor).get(AGENTS, {"format": "csv"}).content.decode())))
    assert lines[0] == ["agent_id", "name", "username", "handled", "aht_seconds", "acw_seconds", "occupancy",
                        "online_seconds", "busy_seconds", "away_seconds"]  # fmt: skip


def test_presence_changes_are_recorded_as_spans(tenant, alice):
    routing_services.presence_set(membership=alice, status="online")
    routing_services.presence_set(membership=alice, status="away")
    spans = list(alice.status_spans.order_by("started_at"))
    assert [s.status for s in spans] == ["online", "away"]
    assert spans[0].ended_at == spans[1].started_at and spans[1].ended_at is None


def test_realtime(tenant, supervisor, alice, bob):
    billing = Queue.objects.create(tenant=tenant, name="billing")
    billing.members.add(alice)
    routing_services.capacity_set(membership=alice, capacity={"messaging": 1})
    routing_services.presence_set(membership=alice, status="online")
    routing_services.presence_set(membership=bob, status="away")
    now = timezone.now()
    old = WorkItem.objects.create(tenant=tenant, reference="r1", queue=billing, status="queued")
    WorkItem.objects.filter(pk=old.pk).update(created_at=now - timedelta(seconds=90))
    WorkItem.objects.create(tenant=tenant, reference="r2", queue=billing, status="queued")
    answered = WorkItem.objects.create(tenant=tenant, reference="r3", queue=billing, status="done")
    WorkItem.objects.filter(pk=answered.pk).update(created_at=now - timedelta(seconds=30))
    routing_services_work = answered.works.create(
        tenant=tenant, agent=bob, status="closed", expires_at=now, answered_at=now - timedelta(seconds=20)
    )
    assert routing_services_work.pk
    body = session_client(supervisor).get(REALTIME).json()
    row = next(q for q in body["queues"] if q["queue"] == "billing")
    assert row["waiting"] == 2 and row["oldest_wait_seconds"] >= 90
    assert row["agents_online"] == 1 and row["agents_available"] == 1 and row["agents_away"] == 0
    assert row["service_level_today"] == pytest.approx(1 / 3)  # 3 offered today, 1 answered within 20 s
    assert body["totals"]["agents_away"] == 1 and body["totals"]["waiting"] == 2
    agents = {a["name"]: a for a in body["agents"]}
    assert agents["Alice"]["status"] == "online" and agents["Alice"]["load"]["messaging"] == {"max": 1, "used": 0}
    assert agents["Alice"]["available"] is True and agents["Bob"]["available"] is False


def test_reports_are_tenant_scoped(tenant, other_tenant, supervisor):
    item(tenant, "2026-11-02 10:00:00")
    item(other_tenant, "2026-11-02 10:00:00")
    MembershipFactory(tenant=other_tenant, role="agent")
    body = session_client(supervisor).get("/api/v1/agent/reports/summary/", {"from": "2026-11-02"}).json()
    assert body["total"]["offered"] == 1
    names = {a["agent_id"] for a in session_client(supervisor).get(AGENTS).json()["agents"]}
    assert names == {str(supervisor.pk)}
