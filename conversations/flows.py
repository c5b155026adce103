"""Channel flows (FIG 19 1904): what happens to a new session before (or instead of) routing.

Configured per channel in `Channel.settings["flow"]` (admin), for example::

    {"greeting": "Hi! An agent will be with you shortly.",
     "business_hours": {"timezone": "Europe/Berlin",
                        "weekly": {"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]]},
                        "closed_message": "We are closed; we answer from 9:00."},
     "route_to": {"queue": "billing"}            # or {"bot": {"name": "HelpBot", "reply": "…",
                                                 #               "handoff_keyword": "agent"}}
    }

A channel with a business-hours calendar (`Channel.business_hours`, admin: time zone, weekly hours,
holidays) is open by that calendar instead of `flow.business_hours`; its closed message wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from tenants import business_hours as calendars
from tenants.channel_settings import DAYS, validate_flow
from tenants.selectors import business_calendar

__all__ = ["DAYS", "FlowDecision", "decide", "greeting", "is_open", "validate_flow"]


@dataclass(frozen=True)
class FlowDecision:
    """What to do with an end user's message: route (to a queue or not), wait, or let the bot answer."""

    action: str  # "route" | "wait" | "bot"
    queue: str | None = None
    reply: str | None = None
    bot_name: str = ""


def flow_of(channel) -> dict:
    return (channel.settings or {}).get("flow") or {} if channel is not None else {}


def is_open(business_hours: dict | None, now: datetime | None = None) -> bool:
    """Whether `now` falls inside the weekly business hours (no hours configured means always open)."""
    if not business_hours or not business_hours.get("weekly"):
        return True
    try:
        zone = ZoneInfo(business_hours.get("timezone") or "UTC")
    except ZoneInfoNotFoundError:
        zone = ZoneInfo("UTC")
    local = (now or timezone.now()).astimezone(zone)
    for start, end in business_hours["weekly"].get(DAYS[local.weekday()], []):
        if time.fromisoformat(start) <= local.time() < time.fromisoformat(end):
            return True
    return False


def decide(*, channel, text: str, state: dict, now: datetime | None = None) -> FlowDecision:
    """The flow's decision for an inbound message of a session whose flow `state` is given."""
    flow = flow_of(channel)
    hours = flow.get("business_hours")
    found = (
        business_calendar(business_hours_id=channel.business_hours_id)
        if channel and channel.business_hours_id
        else None
    )
    if found is not None:
        # the channel's business-hours calendar (admin) decides; the flow's own hours are ignored then
        record, calendar = found
        closed = not calendars.is_open(calendar, now or timezone.now())
        closed_message = record.closed_message or (hours or {}).get("closed_message")
    else:
        closed = not is_open(hours, now)
        closed_message = (hours or {}).get("closed_message")
    if closed:
        reply = None if state.get("closed_told") else closed_message or "We are closed right now."
        state["closed_told"] = True
        return FlowDecision(action="wait", reply=reply)
    route_to = flow.get("route_to") or {}
    bot = route_to.get("bot")
    if bot and not state.get("handed_off"):
        keyword = (bot.get("handoff_keyword") or "agent").lower()
        if keyword in (text or "").lower().split():
            state["handed_off"] = True
            return FlowDecision(action="route", queue=bot.get("handoff_queue"))
        return FlowDecision(action="bot", reply=bot.get("reply") or "", bot_name=bot.get("name") or "Bot")
    return FlowDecision(action="route", queue=route_to.get("queue"))


def greeting(channel) -> str | None:
    return flow_of(channel).get("greeting") or None
