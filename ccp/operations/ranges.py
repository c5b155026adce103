"""Report ranges and their intervals, in the tenant's time zone (no Django: unit-tested on its own).

`from` and `to` are either dates (`2026-11-30`) or ISO 8601 date-times (`2026-11-30T08:00:00Z`):

- a date means the whole local day in the tenant's time zone: `from=2026-11-01&to=2026-11-30` is
  1 November 00:00 up to (not including) 1 December 00:00 local time — both days included, so a
  one-day report is `from=D&to=D`;
- a date-time is an instant (without an offset: local time in the tenant's zone); the range is
  half-open `[from, to)`.

Intervals are local hours or local days. Their boundaries are computed with zoneinfo, so a day is
23 or 25 hours long on a DST change and an hourly report of such a day has 23 or 25 rows (the
repeated hour of the autumn change is two rows with distinct UTC starts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ccp.core.errors import Invalid

INTERVALS = ("hour", "day")
# The most intervals one report may have: an hourly month or a daily year (and a bit).
MAX_INTERVALS = {"hour": 31 * 24 + 1, "day": 366}
MIN_YEAR, MAX_YEAR = 1970, 9000


@dataclass(frozen=True)
class ReportRange:
    """A report's half-open range [start, end) in UTC and its interval boundaries."""

    start: datetime
    end: datetime
    interval: str
    zone: ZoneInfo
    bounds: tuple[datetime, ...]  # start = bounds[0] < … < bounds[-1] = end

    def intervals(self) -> list[tuple[datetime, datetime]]:
        return list(zip(self.bounds, self.bounds[1:], strict=False))


def _invalid(field: str, sentence: str, code: str = "invalid") -> Invalid:
    return Invalid(sentence, code=code, details={field: [sentence]})


def _parse(value: str, field: str, zone: ZoneInfo, *, is_end: bool) -> datetime:
    try:
        moment = _parse_moment(value, field, zone, is_end=is_end)
    except (OverflowError, ValueError):
        moment = None
    if moment is None or not (MIN_YEAR <= moment.year <= MAX_YEAR):
        raise _invalid(field, f"'{value}' is outside the years {MIN_YEAR} to {MAX_YEAR}.", "invalid_range")
    return moment


def _parse_moment(value: str, field: str, zone: ZoneInfo, *, is_end: bool) -> datetime:
    text = value.strip().replace(" ", "+")  # an unescaped "+01:00" arrives as " 01:00"
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise _invalid(field, f"'{value}' is not a date (YYYY-MM-DD) or an ISO 8601 date-time.") from None
        if is_end:
            day = day + timedelta(days=1)
        return local_midnight(day, zone)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _invalid(field, f"'{value}' is not a date (YYYY-MM-DD) or an ISO 8601 date-time.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant a local day starts (where midnight is skipped by a DST change, its first moment)."""
    naive = datetime.combine(day, time())
    local = naive.replace(tzinfo=zone)
    # a skipped midnight (e.g. America/Santiago) does not round-trip: step to the first real instant
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        local = (naive + timedelta(hours=1)).replace(tzinfo=zone)
    return local.astimezone(UTC)


def report_range(
    *, start: str | None, end: str | None, interval: str | None, time_zone: str, now: datetime
) -> ReportRange:
    """Parse and check a report's `from`, `to` and `interval` (both dates default to today, local).

    Raises Invalid, the field under `details`: 400 `invalid` for an unreadable date or an unknown
    interval, 400 `invalid_range` for `to` not after `from`, a year outside MIN_YEAR..MAX_YEAR or more
    intervals than MAX_INTERVALS."""
    zone = ZoneInfo(time_zone or "UTC")
    interval = (interval or "day").strip()
    if interval not in INTERVALS:
        raise _invalid("interval", f"'{interval}' is not an interval; use hour or day.")
    today = now.astimezone(zone).date().isoformat()
    start_at = _parse(start if start not in (None, "") else today, "from", zone, is_end=False)
    end_at = _parse(end if end not in (None, "") else today, "to", zone, is_end=True)
    if end_at <= start_at:
        raise _invalid("to", "'to' must be after 'from' (a date 'to' includes that whole day).", "invalid_range")
    bounds = interval_bounds(start_at, end_at, interval, zone)
    if len(bounds) - 1 > MAX_INTERVALS[interval]:
        raise _invalid(
            "to",
            f"The range has {len(bounds) - 1} {interval}s; at most {MAX_INTERVALS[interval]} per report "
            f"— use a shorter range or a longer interval.",
            "invalid_range",
        )
    return ReportRange(start=start_at, end=end_at, interval=interval, zone=zone, bounds=tuple(bounds))


def interval_bounds(start: datetime, end: datetime, interval: str, zone: ZoneInfo) -> list[datetime]:
    """Boundaries from `start` to `end` (UTC): each local hour or local midnight in between. A range
    that does not start on a boundary gets a first, shorter interval (and so does its end)."""
    limit = MAX_INTERVALS[interval] + 2
    bounds = [start]
    if interval == "hour":
        # whole local hours are whole UTC hours in every zone whose offset is a whole or half hour
        # from an hour-aligned local start: step in real time from the first local hour start
        local = start.astimezone(zone)
        first = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        nxt = first if first > start else first + timedelta(hours=1)
        while nxt < end and len(bounds) <= limit:
            bounds.append(nxt)
            nxt = nxt + timedelta(hours=1)
    else:
        day = start.astimezone(zone).date()
        while len(bounds) <= limit:
            day = day + timedelta(days=1)
            nxt = local_midnight(day, zone)
            if nxt >= end:
                break
            if nxt > start:
                bounds.append(nxt)
    bounds.append(end)
    return bounds
