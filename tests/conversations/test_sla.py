"""SLA clocks (docs/reports.md, "SLA"): due times in business time, the start and stop rules through
real conversations, and the sweep's sla.warning / sla.breached events, published once each."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from conversations import services
from conversations.models import Conversation, SlaClock, SlaPolicy
from conversations.sla_selectors import sla_for_conversations
from routing.models import AgentWork, Queue
from tenants.business_hours import Calendar
from tenants.models import BusinessHours, Holiday

from .conftest import events, message, online, post

pytestmark = pytest.mark.django_db
ALL_DAY = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
OFFICE = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- the arithmetic -----------------------------------------------------------------------------


def test_due_and_warning_skip_the_night_and_the_weekend():
    office = Calendar("UTC", OFFICE)
    # Friday 2026-11-06 16:00 + 2 business hours: 1 h on Friday, the weekend is closed, 1 h on Monday
    warn, due = services.clock_times(office, utc("2026-11-06 16:00:00"), 2 * 3600)
    assert due == utc("2026-11-09 10:00:00")
    assert warn == utc("2026-11-09 09:36:00")  # 80 % = 96 min: 60 on Friday, 36 on Monday


def test_due_skips_a_holiday_and_counts_local_hours():
    # Berlin office hours; Monday 9 November is a holiday. Friday 16:30 local (15:30 UTC) + 1 h:
    # 30 min on Friday, then Tuesday 09:00 local (08:00 UTC) + 30 min
    berlin = Calendar("Europe/Berlin", OFFICE, frozenset({date(2026, 11, 9)}))
    warn, due = services.clock_times(berlin, utc("2026-11-06 15:30:00"), 3600)
    assert due == utc("2026-11-10 08:30:00")
    assert warn == utc("2026-11-10 08:18:00")  # 48 min: 30 on Friday, 18 on Tuesday


def test_a_clock_started_while_closed_starts_counting_at_opening():
    warn, due = services.clock_times(Calendar("UTC", OFFICE), utc("2026-11-07 12:00:00"), 600)  # a Saturday
    assert due == utc("2026-11-09 09:10:00") and warn == utc("2026-11-09 09:08:00")


def test_without_a_calendar_a_clock_counts_wall_time():
    warn, due = services.clock_times(None, utc("2026-11-07 12:00:00"), 100)
    assert due == utc("2026-11-07 12:01:40") and warn == utc("2026-11-07 12:01:20")


# --- through real conversations ---------------------------------------------------------------------


@pytest.fixture
def policy(tenant, channel):
    return SlaPolicy.objects.create(
        tenant=tenant,
        name="Chat",
        channel=channel,
        first_response_seconds=300,
        next_response_seconds=600,
        resolution_seconds=3600,
    )


def _accept(alice) -> Conversation:
    with transaction.atomic():
        return services.agent_work_accept(agent=alice, work=AgentWork.objects.get(agent=alice, status="offered"))


def _reply(alice, conversation, text="hello"):
    return services.message_send(agent=alice, conversation=conversation, text=text)


def _clocks(conversation):
    return {c.target: c for c in SlaClock.objects.filter(conversation=conversation).order_by("started_at")}


def test_first_response_next_response_and_resolution_follow_the_conversation(api, channel, alice, policy):
    online(alice)
    post(api, message("help", "e1"))
    conversation = Conversation.objects.get()
    first_in = conversation.messages.get(direction="inbound")
    clocks = _clocks(conversation)
    assert set(clocks) == {"first_response", "resolution"}
    first = clocks["first_response"]
    assert first.started_at == first_in.created_at and first.stopped_at is None
    assert first.due_at == first_in.created_at + timedelta(seconds=300)
    assert first.warn_at == first_in.created_at + timedelta(seconds=240)
    assert clocks["resolution"].started_at == conversation.created_at
    assert clocks["resolution"].due_at == conversation.created_at + timedelta(seconds=3600)
    post(api, message("still there?", "e2"))  # a second message while waiting: no new clock
    assert SlaClock.objects.filter(conversation=conversation).count() == 2

    conversation = _accept(alice)
    reply = _reply(alice, conversation)
    first.refresh_from_db()
    assert first.stopped_at == reply.created_at and first.met is True

    _reply(alice, conversation, "anything else?")  # the agent again: nothing to stop or start
    post(api, message("yes, one more", "e3"))
    nxt = SlaClock.objects.get(conversation=conversation, target="next_response")
    second_in = conversation.messages.get(partner_entry_id="e3")
    assert nxt.started_at == second_in.created_at and nxt.due_at == second_in.created_at + timedelta(seconds=600)
    post(api, message("and another", "e4"))  # already waiting on us: the running clock keeps its start
    assert SlaClock.objects.filter(conversation=conversation, target="next_response").count() == 1
    _reply(alice, conversation, "done")
    nxt.refresh_from_db()
    assert nxt.met is True and nxt.stopped_at is not None

    services.conversation_close(conversation=conversation, closed_by="agent", agent=alice)
    resolution = SlaClock.objects.get(conversation=conversation, target="resolution")
    conversation.refresh_from_db()
    assert resolution.stopped_at == conversation.closed_at and resolution.met is True
    assert not SlaClock.objects.filter(conversation=conversation, stopped_at__isnull=True).exists()
    assert events("sla.breached") == [] and events("sla.warning") == []


def test_the_policys_calendar_moves_the_due_time_past_closed_days(tenant, api, channel, alice):
    # open all day except today and tomorrow (holidays): a clock started today runs from the day after
    calendar = BusinessHours.objects.create(tenant=tenant, name="sla-hours", time_zone="UTC", weekly=ALL_DAY)
    today = timezone.now().astimezone(UTC).date()
    Holiday.objects.create(calendar=calendar, date=today, name="one")
    Holiday.objects.create(calendar=calendar, date=today + timedelta(days=1), name="two")
    SlaPolicy.objects.create(
        tenant=tenant, name="Calendar", channel=channel, first_response_seconds=90, business_hours=calendar
    )
    online(alice)
    post(api, message("help", "e1"))
    clock = SlaClock.objects.get(target="first_response")
    reopens = datetime.combine(today + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    assert clock.due_at == reopens + timedelta(seconds=90)
    assert clock.warn_at == reopens + timedelta(seconds=72)
    assert not SlaClock.objects.filter(target="resolution").exists()  # the policy sets no resolution target


def test_a_queue_policy_applies_to_conversations_routed_to_the_queue(tenant, api, channel, alice):
    queue = Queue.objects.create(tenant=tenant, name="billing")
    channel.settings = {"flow": {"route_to": {"queue": "billing"}}}
    channel.save()
    SlaPolicy.objects.create(tenant=tenant, name="Channel", channel=channel, first_response_seconds=900)
    SlaPolicy.objects.create(tenant=tenant, name="Queue", queue=queue, first_response_seconds=60)
    online(alice)
    post(api, message("help", "e1"))
    clock = SlaClock.objects.get(target="first_response")
    assert (clock.policy_name, clock.target_seconds) == ("Queue", 60)
    post(api, message("help", "e2"), sender="+4917000000")  # a second conversation, same queue
    assert SlaClock.objects.filter(policy_name="Queue").count() == 2


def test_a_channel_policy_applies_when_the_queue_has_none(tenant, api, channel, alice):
    Queue.objects.create(tenant=tenant, name="billing")
    channel.settings = {"flow": {"route_to": {"queue": "billing"}}}
    channel.save()
    SlaPolicy.objects.create(tenant=tenant, name="Channel", channel=channel, first_response_seconds=900)
    online(alice)
    post(api, message("help", "e1"))
    clock = SlaClock.objects.get(target="first_response")
    assert (clock.policy_name, clock.target_seconds) == ("Channel", 900)


def test_without_a_policy_no_clock_starts(api, channel, alice):
    online(alice)
    post(api, message("help", "e1"))
    conversation = _accept(alice)
    _reply(alice, conversation)
    services.conversation_close(conversation=conversation, closed_by="agent", agent=alice)
    assert not SlaClock.objects.exists()


# --- the sweep ------------------------------------------------------------------------------------


def _age(conversation, seconds: float):
    """Move the conversation's clocks `seconds` into the past."""
    for clock in SlaClock.objects.filter(conversation=conversation):
        shift = timedelta(seconds=seconds)
        SlaClock.objects.filter(pk=clock.pk).update(
            started_at=clock.started_at - shift, warn_at=clock.warn_at - shift, due_at=clock.due_at - shift
        )


def test_the_sweep_warns_at_80_percent_and_breaches_at_due_once_each(api, channel, alice, policy):
    online(alice)
    post(api, message("help", "e1"))
    conversation = Conversation.objects.get()
    assert services.sla_sweep() == {"warned": 0, "breached": 0}
    _age(conversation, 250)  # 250 of 300 s: past the warning (240), not due
    with transaction.atomic():
        assert services.sla_sweep() == {"warned": 1, "breached": 0}
    assert services.sla_sweep() == {"warned": 0, "breached": 0}
    [warning] = events("sla.warning")
    first = SlaClock.objects.get(target="first_response")
    assert warning.data["target"] == "first_response"
    assert warning.data["conversation_id"] == str(conversation.pk)
    assert warning.data["policy_id"] == str(policy.pk) and warning.data["policy_name"] == "Chat"
    assert abs(datetime.fromisoformat(warning.data["due_at"]) - first.due_at) < timedelta(milliseconds=1)
    assert warning.partner_id == conversation.partner_id  # on the bus: the partner's webhooks and stream
    assert sla_for_conversations(conversation_ids=[conversation.pk])[str(conversation.pk)]["state"] == "warning"

    _age(conversation, 60)  # now 310 s: past due
    assert services.sla_sweep() == {"warned": 0, "breached": 1}
    assert services.sla_sweep() == {"warned": 0, "breached": 0}
    [breach] = events("sla.breached")
    assert breach.data["target"] == "first_response" and breach.data["breached_at"]
    assert sla_for_conversations(conversation_ids=[conversation.pk])[str(conversation.pk)]["state"] == "breached"

    conversation = _accept(alice)
    _reply(alice, conversation)  # the late reply stops the clock, not met, and publishes nothing more
    first.refresh_from_db()
    assert first.met is False and first.stopped_at is not None
    assert len(events("sla.breached")) == 1 and len(events("sla.warning")) == 1


def test_a_clock_stopped_late_before_the_sweep_came_round_reports_its_breach_once(api, channel, alice, policy):
    online(alice)
    post(api, message("help", "e1"))
    conversation = Conversation.objects.get()
    _age(conversation, 400)
    conversation = _accept(alice)
    _reply(alice, conversation)
    [breach] = events("sla.breached")
    assert breach.data["target"] == "first_response"
    assert SlaClock.objects.get(target="first_response").met is False
    services.sla_sweep()  # the resolution clock is not due; the stopped one is never reported again
    assert len(events("sla.breached")) == 1
