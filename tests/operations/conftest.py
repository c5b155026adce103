"""Fixture builders for the reports: rows with the timestamps a test states, so every expected
number can be computed by hand in the test."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from conversations.models import Contact, Conversation, Message
from routing.models import AgentStatusSpan, AgentWork, WorkItem
from tests.conversations.conftest import install
from tests.factories import MembershipFactory


def at(text: str) -> datetime:
    """'2026-11-02 10:00:05' (UTC) → an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def item(tenant, created: str, *, queue=None, status="done", done: str | None = None, transfer=False, **attributes):
    row = WorkItem.objects.create(
        tenant=tenant,
        reference=str(uuid.uuid4()),
        queue=queue,
        status=status,
        is_transfer=transfer,
        attributes={"channel_address_id": "+15550001", **attributes},
    )
    WorkItem.objects.filter(pk=row.pk).update(
        created_at=at(created), enqueued_at=at(created), done_at=done and at(done)
    )
    row.refresh_from_db()
    return row


def work(work_item, agent, *, answered: str, closed: str | None = None, ended: str | None = None, status=None):
    """Accepted work: accepted at `answered`, conversation work closed at `closed`, ACW ended at
    `ended` (default: no ACW, ended when closed). Status defaults from what is given."""
    if status is None:
        status = "closed" if closed else "accepted"
    if closed and ended is None and status == "closed":
        ended = closed
    row = AgentWork.objects.create(
        tenant=work_item.tenant, work_item=work_item, agent=agent, status=status, expires_at=at(answered)
    )
    AgentWork.objects.filter(pk=row.pk).update(
        offered_at=at(answered),
        answered_at=at(answered),
        closed_at=closed and at(closed),
        ended_at=ended and at(ended),
    )
    return row


def span(agent, status: str, start: str, end: str | None):
    return AgentStatusSpan.objects.create(
        tenant=agent.tenant, agent=agent, status=status, started_at=at(start), ended_at=end and at(end)
    )


def conversation(tenant, channel, contact, created: str, *, closed: str | None = None):
    row = Conversation.objects.create(
        tenant=tenant,
        channel=channel,
        channel_address_id=channel.channel_address_id,
        contact=contact,
        end_user_address=f"+49{uuid.uuid4().int % 10**9}",
        status="closed" if closed else "active",
    )
    Conversation.objects.filter(pk=row.pk).update(created_at=at(created), closed_at=closed and at(closed))
    row.refresh_from_db()
    return row


def say(conv, when: str, *, direction="inbound", sender_type="end_user", agent=None):
    seq = conv.messages.count() + 1
    row = Message.objects.create(
        tenant=conv.tenant,
        conversation=conv,
        seq=seq,
        direction=direction,
        sender_type=sender_type,
        agent=agent,
        text="x",
        channel_address_id=conv.channel_address_id,
    )
    Message.objects.filter(pk=row.pk).update(created_at=at(when))
    return row


def contact(tenant, name="Ann"):
    return Contact.objects.create(tenant=tenant, name=name)


def session_client(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


@pytest.fixture
def supervisor(tenant):
    return MembershipFactory(tenant=tenant, role="supervisor", display_name="Sue")


@pytest.fixture
def alice(tenant):
    return MembershipFactory(tenant=tenant, role="agent", display_name="Alice")


@pytest.fixture
def bob(tenant):
    return MembershipFactory(tenant=tenant, role="agent", display_name="Bob")


@pytest.fixture
def channel(tenant, partner):
    return install(tenant, partner)


def days(n: int) -> timedelta:
    return timedelta(days=n)
