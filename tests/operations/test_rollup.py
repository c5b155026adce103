"""The rollup of settled work: reports read from it equal reports read from the raw records."""

from __future__ import annotations

import pytest

from ccp.operations.models import RollupState, WorkRollup
from ccp.operations.services import operations_rollup
from routing.models import AgentWork, WorkItem

from .conftest import at, contact, conversation, item, say, session_client, span, work
from .test_summary import two_days  # noqa: F401 — the fixture

pytestmark = pytest.mark.django_db
SUMMARY, AGENTS = "/api/v1/agent/reports/summary/", "/api/v1/agent/reports/agents/"


@pytest.fixture
def history(tenant, alice, bob, channel, two_days):  # noqa: F811
    ann = contact(tenant)
    a = conversation(tenant, channel, ann, "2026-11-02 09:00:00", closed="2026-11-02 09:30:00")
    say(a, "2026-11-02 09:00:00")
    say(a, "2026-11-02 09:01:30", direction="outbound", sender_type="agent", agent=alice)
    conversation(tenant, channel, ann, "2026-11-02 20:00:00", closed="2026-11-02 20:30:00")
    span(alice, "online", "2026-11-02 08:00:00", "2026-11-02 12:00:00")
    span(alice, "away", "2026-11-02 12:00:00", "2026-11-02 12:07:00")  # not on a bucket boundary
    span(alice, "busy", "2026-11-02 12:07:00", None)  # still open
    span(bob, "online", "2026-11-02 09:00:00", "2026-11-03 11:00:00")


def _reports(client, **params):
    return [
        client.get(SUMMARY, {"from": "2026-11-01", "to": "2026-11-04", **params}).json(),
        client.get(SUMMARY, {"from": "2026-11-02", "to": "2026-11-03", "interval": "hour", **params}).json(),
        client.get(AGENTS, {"from": "2026-11-01", "to": "2026-11-04"}).json(),
    ]


def _reports_raw(client, tenant):
    """The reports with the rollup out of the way (its state hidden, then restored)."""
    state = RollupState.objects.get(tenant=tenant)
    RollupState.objects.filter(pk=state.pk).update(settled_until=None)
    try:
        return _reports(client)
    finally:
        RollupState.objects.filter(pk=state.pk).update(settled_until=state.settled_until)


def _approx(value):
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_approx(v) for v in value]
    return pytest.approx(value) if isinstance(value, float) else value


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
def test_reports_from_the_rollup_equal_the_raw_ones(tenant, supervisor, history, zone, settings):
    tenant.time_zone = zone
    tenant.save()
    client = session_client(supervisor)
    raw = [_reports(client), _reports(client, queue=""), _reports(client, channel="+15550001")]
    # the still-waiting item (2 Nov 14:00) holds the rollup back at its bucket
    assert operations_rollup(tenant=tenant, now=at("2026-12-10 00:00:00"), max_days=30) == at("2026-11-02 14:00:00")
    assert WorkRollup.objects.filter(tenant=tenant).exists()
    assert _reports(client) == _approx(raw[0])
    assert _reports(client, channel="+15550001") == _approx(raw[2])
    # once it has ended, the next one holding it is the work still open on the 3rd at 09:30
    waiting = WorkItem.objects.get(tenant=tenant, status="queued")
    WorkItem.objects.filter(pk=waiting.pk).update(status="canceled", done_at=at("2026-11-02 14:10:00"))
    assert operations_rollup(tenant=tenant, now=at("2026-12-10 00:00:00"), max_days=60) == at("2026-11-03 09:30:00")
    assert _reports(client) == _approx(_reports_raw(client, tenant))
    # when that ends too, the rollup reaches the horizon and the reports still agree
    AgentWork.objects.filter(tenant=tenant, status="accepted").update(
        status="closed", closed_at=at("2026-11-03 09:40:00"), ended_at=at("2026-11-03 09:41:00")
    )
    WorkItem.objects.filter(tenant=tenant, status="assigned").update(status="done")
    raw_after = _reports_raw(client, tenant)
    settled = operations_rollup(tenant=tenant, now=at("2026-12-10 00:00:00"), max_days=60)
    assert settled == at("2026-12-08 23:00:00")  # now − 24 h FCR window − 1 h
    assert _reports(client) == _approx(raw_after)
    # a second run rolls up nothing twice
    count = WorkRollup.objects.count()
    assert operations_rollup(tenant=tenant, now=at("2026-12-10 00:00:00")) == settled
    assert WorkRollup.objects.count() == count


def test_an_open_conversation_holds_the_rollup(tenant, channel, alice):
    open_one = conversation(tenant, channel, contact(tenant), "2026-11-05 10:00:00")
    say(open_one, "2026-11-05 10:00:00")
    i = item(tenant, "2026-11-04 09:00:00")
    work(i, alice, answered="2026-11-04 09:00:10", closed="2026-11-04 09:10:00")
    assert operations_rollup(tenant=tenant, now=at("2026-12-10 00:00:00"), max_days=60) == at("2026-11-05 10:00:00")
    assert RollupState.objects.get(tenant=tenant).settled_until == at("2026-11-05 10:00:00")
