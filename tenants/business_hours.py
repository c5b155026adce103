"""Business-hours arithmetic, without Django: whether a calendar is open at an instant, how many
business seconds lie between two instants, and when a number of business seconds from an instant
runs out. Used by the channel flow's "closed" behaviour and by SLA clocks (docs/reports.md).

A calendar is a time zone, weekly opening hours per local weekday (`{"mon": [["09:00", "17:00"]]}`,
several spans a day allowed, "24:00" ends a day) and holidays (local dates closed all day). A calendar
without weekly hours is always open. Local times are turned into instants with zoneinfo, so a day
on which clocks change has 23 or 25 hours and its opening hours still start and end at the local
times written; a local time skipped by a spring-forward change is read with the offset before the
change (02:30 on such a day is 03:30), and a repeated one as its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS = 3 * 366  # the longest stretch any computation walks (bounded work for any input)


@dataclass(frozen=True)
class Calendar:
    time_zone: str = "UTC"
    weekly: dict = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone or "UTC")

    @property
    def always_open(self) -> bool:
        return not any(self.weekly.get(day) for day in DAYS)


def parse_time(text: str) -> time | None:
    """'HH:MM' → a time; '24:00' → None (the end of the day)."""
    if text in ("24:00", "24:00:00"):
        return None
    return time.fromisoformat(text)


def _instant(day: date, at: time | None, zone: ZoneInfo) -> datetime:
    if at is None:
        return _instant(day + timedelta(days=1), time(), zone)
    return datetime.combine(day, at).replace(tzinfo=zone).astimezone(UTC)


def open_spans(calendar: Calendar, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The open spans (UTC, in order, clipped to [start, end)) of the calendar between two instants."""
    if end <= start:
        return
    if calendar.always_open:
        yield start, end
        return
    zone = calendar.zone
    day = start.astimezone(zone).date() - timedelta(days=1)  # a span of yesterday may run past midnight
    last = end.astimezone(zone).date()
    for _ in range(MAX_DAYS + 2):
        if day > last:
            return
        if day not in calendar.holidays:
            for span in sorted(calendar.weekly.get(DAYS[day.weekday()]) or [], key=lambda s: s[0]):
                opens = _instant(day, parse_time(span[0]), zone)
                closes = _instant(day, parse_time(span[1]), zone)
                lo, hi = max(opens, start), min(closes, end)
                if lo < hi:
                    yield lo, hi
        day += timedelta(days=1)


def is_open(calendar: Calendar | None, at: datetime) -> bool:
    """Whether the calendar is open at this instant (no calendar: always open)."""
    if calendar is None or calendar.always_open:
        return True
    return any(True for _ in open_spans(calendar, at, at + timedelta(microseconds=1)))


def business_seconds(calendar: Calendar | None, start: datetime, end: datetime) -> float:
    """Open seconds between two instants (0 when end ≤ start; no calendar: wall-clock seconds)."""
    if end <= start:
        return 0.0
    if calendar is None:
        return (end - start).total_seconds()
    end = min(end, start + timedelta(days=MAX_DAYS))
    return sum((hi - lo).total_seconds() for lo, hi in open_spans(calendar, start, end))


def business_deadline(calendar: Calendar | None, start: datetime, seconds: float) -> datetime | None:
    """The instant at which `seconds` of open time from `start` have passed (None: not within
    MAX_DAYS, e.g. a calendar closed on every day it has hours)."""
    if calendar is None or calendar.always_open:
        return start + timedelta(seconds=seconds)
    left = max(0.0, seconds)  # a zero target runs out at the first open instant
    for lo, hi in open_spans(calendar, start, start + timedelta(days=MAX_DAYS)):
        length = (hi - lo).total_seconds()
        if length >= left:
            return lo + timedelta(seconds=left)
        left -= length
    return None


def weekly_check(weekly: dict) -> dict[str, list[str]]:
    """Problems of a weekly-hours mapping, per day (empty: fine)."""
    problems: dict[str, list[str]] = {}
    if not isinstance(weekly, dict):
        return {"weekly": ['is {"mon": [["09:00", "17:00"]], …}']}
    for day, spans in weekly.items():
        if day not in DAYS:
            problems[day] = [f"must be one of {', '.join(DAYS)}"]
            continue
        try:
            for span in spans:
                opens, closes = span
                start, end = parse_time(opens), parse_time(closes)
                if start is None or (end is not None and start >= end):
                    raise ValueError
        except (ValueError, TypeError):
            problems[day] = ['each span is ["HH:MM", "HH:MM"] (end "24:00" allowed), start before end']
    return problems
