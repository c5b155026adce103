"""The summary report against hand-computed fixtures (definitions: docs/reports.md)."""

from __future__ import annotations

import csv
import io

import pytest
from rest_framework.test import APIClient

from routing.models import Queue
from tests.helpers import assert_error

from .conftest import contact, conversation, item, say, session_client, span, work

pytestmark = pytest.mark.django_db
URL = "/api/v1/agent/reports/summary/"


@pytest.fixture
def two_days(tenant, alice, bob):
    """Two UTC days of work. Waits (accepted − entered) and handle/ACW are written next to each row."""
    # --- 2 November
    i1 = item(tenant, "2026-11-02 10:00:00")
    work(i1, alice, answered="2026-11-02 10:00:10", closed="2026-11-02 10:05:10", ended="2026-11-02 10:06:10")
    # wait 10, handle 300, acw 60
    i2 = item(tenant, "2026-11-02 11:00:00")
    work(i2, bob, answered="2026-11-02 11:00:30", closed="2026-11-02 11:10:30")  # wait 30 (> 20), handle 600
    item(tenant, "2026-11-02 12:00:00", status="canceled", done="2026-11-02 12:00:03")  # short abandon (3 s)
    item(tenant, "2026-11-02 13:00:00", status="canceled", done="2026-11-02 13:01:00")  # abandon (60 s)
    item(tenant, "2026-11-02 14:00:00", status="queued")  # still waiting
    i6 = item(tenant, "2026-11-02 10:20:00", transfer=True)
    # a transfer, wait 5, handle 600, ACW extended to 120
    work(i6, bob, answered="2026-11-02 10:20:05", closed="2026-11-02 10:30:05", ended="2026-11-02 10:32:05")
    item(tenant, "2026-11-02 10:25:00", transfer=True, status="canceled", done="2026-11-02 10:26:00")
    # ^ a transfer nobody took before the conversation closed: offered, a transfer, not an abandon
    out = item(tenant, "2026-11-02 15:00:00", outbound=True)  # agent-initiated: not offered
    work(out, alice, answered="2026-11-02 15:00:00", closed="2026-11-02 15:30:00")
    i8 = item(tenant, "2026-11-02 23:59:50")  # entered on the 2nd, answered on the 3rd
    work(i8, alice, answered="2026-11-03 00:00:05", closed="2026-11-03 00:10:05")  # wait 15, handle 600
    # --- 3 November
    i9 = item(tenant, "2026-11-03 09:00:00")
    work(i9, alice, answered="2026-11-03 09:00:20", closed="2026-11-03 09:03:20", ended="2026-11-03 09:04:00")
    # wait 20 (= the threshold: within), handle 180, acw 40
    i10 = item(tenant, "2026-11-03 09:30:00", status="assigned")
    work(i10, alice, answered="2026-11-03 09:30:05", status="declined")  # a decline is not an answer
    work(i10, bob, answered="2026-11-03 09:30:25")  # wait 25, still open: answered, not handled
    item(tenant, "2026-11-03 10:00:00", status="canceled", done="2026-11-03 10:00:05")  # 5 s: short (≤ 5)


def test_summary_by_day_matches_hand_computed_figures(tenant, supervisor, two_days):
    response = session_client(supervisor).get(URL, {"from": "2026-11-02", "to": "2026-11-03", "interval": "day"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["from"] == "2026-11-02T00:00:00Z" and body["to"] == "2026-11-04T00:00:00Z"
    assert [(r["start"], r["end"]) for r in body["rows"]] == [
        ("2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"),
        ("2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z"),
    ]
    day1, day2 = body["rows"]
    # offered: i1 i2 i3 i4 i5 i6 i7(transfer) i8 = 8; answered i1 i2 i6 i8
    assert day1["offered"] == 8 and day1["answered"] == 4
    assert day1["abandoned"] == 2 and day1["short_abandoned"] == 1
    assert day1["asa_seconds"] == pytest.approx((10 + 30 + 5 + 15) / 4)
    assert day1["service_level"] == pytest.approx(3 / (8 - 1))  # i1, i6, i8 within 20 s
    assert day1["handled"] == 4
    assert day1["aht_seconds"] == pytest.approx((300 + 60 + 600 + 600 + 120 + 600) / 4)
    assert day1["acw_seconds"] == pytest.approx((60 + 120) / 4)
    assert day1["transfers"] == 2
    assert day2["offered"] == 3 and day2["answered"] == 2
    assert day2["abandoned"] == 1 and day2["short_abandoned"] == 1
    assert day2["asa_seconds"] == pytest.approx((20 + 25) / 2)
    assert day2["service_level"] == pytest.approx(1 / (3 - 1))
    assert day2["handled"] == 1 and day2["aht_seconds"] == pytest.approx(180 + 40) and day2["acw_seconds"] == 40
    assert day2["transfers"] == 0
    total = body["total"]
    assert total["offered"] == 11 and total["answered"] == 6 and total["abandoned"] == 3
    assert total["short_abandoned"] == 2 and total["transfers"] == 2 and total["handled"] == 5
    assert total["asa_seconds"] == pytest.approx((60 + 45) / 6)
    assert total["service_level"] == pytest.approx(4 / (11 - 2))
    assert total["aht_seconds"] == pytest.approx((2280 + 220) / 5)
    # nobody's presence was recorded, nobody wrote: empty, not zero
    assert total["occupancy"] is None and total["first_response_seconds"] is None and total["fcr"] is None


def test_one_day_is_from_equals_to_and_hourly_rows(tenant, supervisor, two_days):
    body = session_client(supervisor).get(URL, {"from": "2026-11-03", "to": "2026-11-03", "interval": "hour"}).json()
    assert len(body["rows"]) == 24
    nine = body["rows"][9]
    assert nine["start"] == "2026-11-03T09:00:00Z" and nine["offered"] == 2 and nine["answered"] == 2
    assert body["rows"][10]["short_abandoned"] == 1
    assert sum(r["offered"] for r in body["rows"]) == body["total"]["offered"] == 3


def test_queue_threshold_and_filters(tenant, supervisor, alice, channel):
    billing = Queue.objects.create(tenant=tenant, name="billing", service_level_seconds=30)
    a = item(tenant, "2026-11-02 11:00:00", queue=billing)
    work(a, alice, answered="2026-11-02 11:00:30", closed="2026-11-02 11:01:00")  # 30 s: within billing's 30
    b = item(tenant, "2026-11-02 11:00:00")
    work(b, alice, answered="2026-11-02 11:00:30", closed="2026-11-02 11:01:00")  # 30 s: not within the default 20
    item(tenant, "2026-11-02 12:00:00", channel_address_id="+15559999")  # another channel's
    client = session_client(supervisor)
    day = {"from": "2026-11-02", "to": "2026-11-02"}
    assert client.get(URL, day).json()["total"]["service_level"] == pytest.approx(1 / 3)
    by_queue = client.get(URL, {**day, "queue": "billing"}).json()
    assert by_queue["queue"] == "billing" and by_queue["total"]["offered"] == 1
    assert by_queue["total"]["service_level"] == 1.0
    by_channel = client.get(URL, {**day, "channel": channel.channel_address_id}).json()
    assert by_channel["total"]["offered"] == 2
    assert_error(client.get(URL, {**day, "queue": "nope"}), 404, "queue_not_found")
    assert_error(client.get(URL, {**day, "channel": "+10000"}), 404, "unknown_channel")


def test_tenant_time_zone_sets_day_boundaries(tenant, supervisor):
    tenant.time_zone = "Europe/Berlin"
    tenant.save()
    item(tenant, "2026-11-02 22:59:59")  # 23:59:59 in Berlin: the 2nd
    item(tenant, "2026-11-02 23:30:00")  # 00:30 on the 3rd in Berlin
    body = session_client(supervisor).get(URL, {"from": "2026-11-02", "to": "2026-11-03"}).json()
    assert body["time_zone"] == "Europe/Berlin"
    assert body["rows"][0]["start"] == "2026-11-01T23:00:00Z"
    assert [r["offered"] for r in body["rows"]] == [1, 1]


def test_dst_day_has_25_hourly_rows_and_the_repeated_hour_twice(tenant, supervisor):
    tenant.time_zone = "America/New_York"  # clocks go back at 02:00 EDT on 1 November 2026
    tenant.save()
    item(tenant, "2026-11-01 05:30:00")  # 01:30 EDT
    item(tenant, "2026-11-01 06:30:00")  # 01:30 EST, an hour later
    item(tenant, "2026-11-02 04:30:00")  # 23:30 EST on the 1st (UTC: the 2nd)
    client = session_client(supervisor)
    hourly = client.get(URL, {"from": "2026-11-01", "to": "2026-11-01", "interval": "hour"}).json()
    assert len(hourly["rows"]) == 25
    assert hourly["rows"][0]["start"] == "2026-11-01T04:00:00Z" and hourly["rows"][-1]["end"] == "2026-11-02T05:00:00Z"
    assert [r["offered"] for r in hourly["rows"][1:3]] == [1, 1] and hourly["rows"][-1]["offered"] == 1
    daily = client.get(URL, {"from": "2026-11-01", "to": "2026-11-02"}).json()
    assert [r["offered"] for r in daily["rows"]] == [3, 0]
    assert daily["rows"][1]["start"] == "2026-11-02T05:00:00Z"


def test_first_response_and_fcr(tenant, supervisor, alice, channel):
    ann, bea = contact(tenant, "Ann"), contact(tenant, "Bea")
    a = conversation(tenant, channel, ann, "2026-11-02 09:00:00", closed="2026-11-02 09:30:00")
    say(a, "2026-11-02 09:00:00")
    say(a, "2026-11-02 09:00:05", direction="outbound", sender_type="bot")  # a bot is no response
    say(a, "2026-11-02 09:01:30", direction="outbound", sender_type="agent", agent=alice)  # 90 s
    b = conversation(tenant, channel, bea, "2026-11-02 09:10:00", closed="2026-11-02 10:00:00")
    say(b, "2026-11-02 09:10:00")
    say(b, "2026-11-02 09:10:30", direction="outbound", sender_type="agent", agent=alice)  # 30 s
    c = conversation(tenant, channel, ann, "2026-11-02 20:00:00", closed="2026-11-02 20:30:00")  # Ann again < 24 h
    say(c, "2026-11-02 20:00:00")  # never answered: no first response
    conversation(tenant, channel, bea, "2026-11-04 11:00:00")  # Bea again, > 24 h after closing
    body = session_client(supervisor).get(URL, {"from": "2026-11-02", "to": "2026-11-02"}).json()
    assert body["total"]["first_response_seconds"] == pytest.approx((90 + 30) / 2)
    assert body["total"]["fcr"] == pytest.approx(2 / 3)  # b and c resolved at first contact, a not


def test_occupancy_with_away_and_work_open(tenant, supervisor, alice):
    span(alice, "online", "2026-11-02 09:00:00", "2026-11-02 10:00:00")
    span(alice, "away", "2026-11-02 10:00:00", "2026-11-02 10:30:00")
    span(alice, "online", "2026-11-02 10:30:00", "2026-11-02 11:00:00")
    span(alice, "offline", "2026-11-02 11:00:00", None)
    first = item(tenant, "2026-11-02 09:30:00")
    # held from 09:30 into her break, to 10:15 with ACW
    work(first, alice, answered="2026-11-02 09:30:00", closed="2026-11-02 10:10:00", ended="2026-11-02 10:15:00")
    second = item(tenant, "2026-11-02 09:45:00")  # concurrent: the union counts once
    work(second, alice, answered="2026-11-02 09:45:00", closed="2026-11-02 09:50:00")
    third = item(tenant, "2026-11-02 10:40:00")
    work(third, alice, answered="2026-11-02 10:40:00", closed="2026-11-02 10:50:00")
    client = session_client(supervisor)
    body = client.get(URL, {"from": "2026-11-02", "to": "2026-11-02", "interval": "hour"}).json()
    # online 90 min; working while online 09:30–10:00 + 10:40–10:50 = 40 min; away time counts in neither
    assert body["total"]["occupancy"] == pytest.approx(40 / 90)
    assert body["rows"][9]["occupancy"] == pytest.approx(30 / 60)
    assert body["rows"][10]["occupancy"] == pytest.approx(10 / 30)
    assert body["rows"][11]["occupancy"] is None


def test_csv_by_format_and_by_accept(tenant, supervisor, two_days):
    client = session_client(supervisor)
    params = {"from": "2026-11-02", "to": "2026-11-03", "format": "csv"}
    for response in (client.get(URL, params), client.get(URL, {**params, "format": ""}, HTTP_ACCEPT="text/csv")):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        lines = list(csv.reader(io.StringIO(response.content.decode())))
        assert lines[0][:4] == ["start", "end", "offered", "answered"]
        assert len(lines) == 4 and lines[-1][0] == "total" and lines[-1][2] == "11"
    assert_error(client.get(URL, {"format": "xlsx"}), 406, "not_acceptable")
    bad = client.get(URL, {"from": "nope", "format": "csv"})
    assert bad["Content-Type"].startswith("application/json")
    assert_error(bad, 400, "invalid")


@pytest.mark.parametrize(
    "params, field, code",
    [
        ({"from": "2026-13-01"}, "from", "invalid"),
        ({"from": "yesterday"}, "from", "invalid"),
        ({"to": "2026-11-31"}, "to", "invalid"),
        ({"interval": "week"}, "interval", "invalid"),
        ({"from": "2026-11-03", "to": "2026-11-02"}, "to", "invalid_range"),
        ({"from": "2026-11-02T10:00:00Z", "to": "2026-11-02T10:00:00Z"}, "to", "invalid_range"),
        ({"from": "2026-01-01", "to": "2026-03-01", "interval": "hour"}, "to", "invalid_range"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to", "invalid_range"),
        ({"from": "0001-01-01"}, "from", "invalid_range"),
        ({"to": "9999-12-31"}, "to", "invalid_range"),
    ],
)
def test_bad_ranges_are_400_with_a_sentence(supervisor, params, field, code):
    error = assert_error(session_client(supervisor).get(URL, params), 400, code)
    assert field in error["details"] and error["message"].endswith(".")


def test_instants_are_half_open_and_naive_ones_local(tenant, supervisor):
    tenant.time_zone = "Europe/Berlin"
    tenant.save()
    item(tenant, "2026-11-02 09:00:00")
    item(tenant, "2026-11-02 10:00:00")
    client = session_client(supervisor)
    body = client.get(URL, {"from": "2026-11-02T09:00:00Z", "to": "2026-11-02T10:00:00Z", "interval": "hour"}).json()
    assert body["total"]["offered"] == 1 and len(body["rows"]) == 1
    local = client.get(URL, {"from": "2026-11-02T10:00:00", "to": "2026-11-02T12:00:00+01:00"}).json()
    assert local["from"] == "2026-11-02T09:00:00Z" and local["total"]["offered"] == 2


def test_agents_and_anonymous_are_refused(tenant, alice, tenant_admin):
    for path in (URL, "/api/v1/agent/reports/agents/", "/api/v1/agent/reports/realtime/"):
        assert_error(session_client(alice).get(path), 403, "supervisor_only")
        assert session_client(tenant_admin).get(path).status_code == 200
        assert APIClient().get(path).status_code in (401, 403)
