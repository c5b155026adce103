"""A channel's business-hours calendar (admin) drives the flow's closed behaviour."""

from __future__ import annotations

import pytest
from django.utils import timezone

from conversations.models import Conversation, Message
from routing.models import AgentWork
from tenants.models import BusinessHours, Holiday

from .conftest import message, online, post

pytestmark = pytest.mark.django_db


def test_closed_on_a_holiday_with_the_calendars_message(tenant, api, channel, alice):
    calendar = BusinessHours.objects.create(
        tenant=tenant,
        name="office",
        time_zone="UTC",
        weekly={d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        closed_message="Closed for the holiday.",
    )
    Holiday.objects.create(calendar=calendar, date=timezone.now().date(), name="today")
    channel.business_hours = calendar
    channel.save()
    online(alice)
    post(api, message())
    assert Conversation.objects.get().status == "waiting"
    assert Message.objects.get(direction="outbound").text == "Closed for the holiday."
    assert not AgentWork.objects.exists()


def test_open_by_the_calendar_even_when_the_flow_hours_say_closed(tenant, api, channel, alice):
    calendar = BusinessHours.objects.create(tenant=tenant, name="always", time_zone="UTC", weekly={})
    channel.business_hours = calendar
    channel.settings = {"flow": {"business_hours": {"timezone": "UTC", "weekly": {"sun": [["00:00", "00:01"]]}}}}
    channel.save()
    online(alice)
    post(api, message())
    assert AgentWork.objects.get().agent == alice
