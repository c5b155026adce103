"""Channel settings (`Channel.settings`, edited in the admin): the checks that keep them runnable.

The flow itself runs in conversations.flows; it is validated here, in the tenant space that owns
the channel, so the admin refuses a flow that could not run and names the field.
"""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ccp.core.errors import Invalid

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def validate_flow(flow: dict) -> None:
    """Refuse a flow configuration that cannot run, naming the field."""
    problems: dict[str, list[str]] = {}
    hours = flow.get("business_hours") or {}
    for day, spans in (hours.get("weekly") or {}).items():
        if day not in DAYS:
            problems[f"business_hours.weekly.{day}"] = [f"must be one of {', '.join(DAYS)}"]
            continue
        for span in spans:
            try:
                start, end = (time.fromisoformat(x) for x in span)
                if start >= end:
                    raise ValueError
            except (ValueError, TypeError):
                problems[f"business_hours.weekly.{day}"] = ['each span is ["HH:MM", "HH:MM"], start before end']
    if hours.get("timezone"):
        try:
            ZoneInfo(hours["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            problems["business_hours.timezone"] = ["is not a known time zone"]
    route_to = flow.get("route_to") or {}
    if set(route_to) - {"queue", "bot"} or len(route_to) > 1:
        problems["route_to"] = ['is {"queue": NAME} or {"bot": {...}}']
    if problems:
        raise Invalid("The channel flow is not valid.", code="invalid_flow", details=problems)
