"""Report ranges and interval boundaries (ccp/operations/ranges.py, no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ccp.core.errors import Invalid
from ccp.operations.ranges import report_range

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def rng(start, end, interval="day", zone="UTC"):
    return report_range(start=start, end=end, interval=interval, time_zone=zone, now=NOW)


def test_dates_are_whole_local_days_both_included():
    r = rng("2026-11-02", "2026-11-03", zone="Europe/Berlin")
    assert r.start == datetime(2026, 11, 1, 23, tzinfo=UTC) and r.end == datetime(2026, 11, 3, 23, tzinfo=UTC)
    assert len(r.intervals()) == 2


def test_defaults_to_today_local():
    r = rng(None, None, zone="Pacific/Auckland")  # 12:00 UTC on the 20th is 01:00 on the 21st there
    assert r.start == datetime(2026, 11, 20, 11, tzinfo=UTC) and len(r.intervals()) == 1


def test_spring_forward_day_has_23_hours():
    r = rng("2026-03-29", "2026-03-29", "hour", "Europe/Berlin")
    assert len(r.intervals()) == 23
    assert r.end - r.start == datetime(2026, 3, 29, 22, tzinfo=UTC) - datetime(2026, 3, 28, 23, tzinfo=UTC)


def test_fall_back_day_by_day_is_one_25_hour_row():
    r = rng("2026-10-25", "2026-10-26", "day", "Europe/Berlin")
    (first_start, first_end), _ = r.intervals()
    assert (first_end - first_start).total_seconds() == 25 * 3600


def test_half_hour_zone_hours_start_on_local_hours():
    r = rng("2026-11-02", "2026-11-02", "hour", "Asia/Kolkata")
    assert len(r.intervals()) == 24 and r.bounds[1].minute == 30  # 01:00 IST is 19:30 UTC


def test_a_skipped_midnight_starts_the_day_at_its_first_instant():
    # Chile springs forward at 00:00 on 6 September 2026: the day starts at 01:00 local (04:00 UTC)
    r = rng("2026-09-06", "2026-09-06", "day", "America/Santiago")
    assert r.start == datetime(2026, 9, 6, 4, tzinfo=UTC)


def test_an_instant_range_that_does_not_start_on_the_hour_gets_a_short_first_row():
    r = rng("2026-11-02T09:30:00Z", "2026-11-02T11:00:00Z", "hour")
    assert [(a.hour, a.minute, b.hour) for a, b in r.intervals()] == [(9, 30, 10), (10, 0, 11)]


@pytest.mark.parametrize("start, end", [("2026-11-03", "2026-11-02"), ("x", None), (None, "2026-02-30")])
def test_bad_ranges(start, end):
    with pytest.raises(Invalid):
        rng(start, end)


def test_the_docs_carry_every_definition_word_for_word():
    from pathlib import Path

    from ccp.operations.metrics import DEFINITIONS

    docs = " ".join((Path(__file__).parents[2] / "docs" / "reports.md").read_text().split())
    for name, sentence in DEFINITIONS.items():
        assert f"| `{name}` | {' '.join(sentence.split())} |" in docs, name
