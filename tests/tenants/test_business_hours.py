"""Business-hours arithmetic (tenants/business_hours.py, no database): open or closed, business
seconds between instants, deadlines — across closed nights, weekends, holidays and DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tenants.business_hours import Calendar, business_deadline, business_seconds, is_open, weekly_check

WEEKDAYS = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
BERLIN = Calendar("Europe/Berlin", WEEKDAYS, frozenset({date(2026, 12, 25)}))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_open_and_closed():
    assert is_open(BERLIN, utc(2026, 12, 1, 8, 0))  # Tue 09:00 CET
    assert not is_open(BERLIN, utc(2026, 12, 1, 7, 59))  # 08:59
    assert not is_open(BERLIN, utc(2026, 12, 1, 16, 0))  # 17:00: closing time is closed
    assert not is_open(BERLIN, utc(2026, 12, 5, 10, 0))  # Saturday
    assert not is_open(BERLIN, utc(2026, 12, 25, 10, 0))  # a Friday, but a holiday
    assert is_open(None, utc(2026, 12, 25, 3, 0)) and is_open(Calendar(), utc(2026, 12, 25, 3, 0))


def test_seconds_across_a_closed_night_and_a_weekend():
    # Fri 16:00 CET → Mon 10:00 CET: 1 h on Friday, 1 h on Monday
    assert business_seconds(BERLIN, utc(2026, 12, 4, 15, 0), utc(2026, 12, 7, 9, 0)) == 2 * 3600
    # Thu 24 Dec 16:30 → Mon 28 Dec 09:30: 30 min on Thursday, Friday is a holiday, 30 min on Monday
    assert business_seconds(BERLIN, utc(2026, 12, 24, 15, 30), utc(2026, 12, 28, 8, 30)) == 3600


def test_deadlines_skip_closed_time():
    # 4 business hours from Fri 15:00 CET: 2 h on Friday, 2 h on Monday → Mon 11:00 CET
    assert business_deadline(BERLIN, utc(2026, 12, 4, 14, 0), 4 * 3600) == utc(2026, 12, 7, 10, 0)
    # from a closed night: the clock starts at opening
    assert business_deadline(BERLIN, utc(2026, 12, 1, 22, 0), 60) == utc(2026, 12, 2, 8, 1)
    assert business_deadline(BERLIN, utc(2026, 12, 24, 15, 0), 7200) == utc(2026, 12, 28, 9, 0)
    assert business_deadline(Calendar("UTC", {"mon": []}), utc(2026, 12, 1), 5) == utc(2026, 12, 1, 0, 0, 5)


def test_dst_days_keep_local_opening_hours():
    # Sunday 29 March 2026, clocks go forward at 02:00 in Berlin; open 00:00–24:00 that day = 23 hours
    sunday = Calendar("Europe/Berlin", {"sun": [["00:00", "24:00"]]})
    assert business_seconds(sunday, utc(2026, 3, 28), utc(2026, 3, 30)) == 23 * 3600
    # Sunday 25 October 2026, clocks go back: 25 hours
    assert business_seconds(sunday, utc(2026, 10, 24), utc(2026, 10, 26)) == 25 * 3600
    # 09:00–17:00 on the Monday after: 07:00–15:00 UTC in summer time
    assert is_open(BERLIN, utc(2026, 3, 30, 7, 0)) and not is_open(BERLIN, utc(2026, 3, 30, 15, 0))


def test_spans_past_midnight_and_several_a_day():
    late = Calendar("UTC", {"mon": [["08:00", "12:00"], ["20:00", "24:00"]], "tue": [["00:00", "02:00"]]})
    assert business_seconds(late, utc(2026, 11, 30, 0, 0), utc(2026, 12, 2, 0, 0)) == (4 + 4 + 2) * 3600
    assert not is_open(late, utc(2026, 11, 30, 13, 0)) and is_open(late, utc(2026, 12, 1, 1, 0))


@pytest.mark.parametrize(
    "weekly", [{"xyz": []}, {"mon": [["17:00", "09:00"]]}, {"mon": [["9"]]}, {"mon": [["24:00", "24:00"]]}]
)
def test_bad_weekly_hours(weekly):
    assert weekly_check(weekly)


def test_good_weekly_hours():
    assert weekly_check({"mon": [["09:00", "12:00"], ["13:00", "24:00"]]}) == {}
