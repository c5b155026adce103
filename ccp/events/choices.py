"""The one documented place for event types and the statuses of the event bus.

Standard types are dotted nouns + past-tense verbs. A package may define custom platform event
types (`PlatformEventType`, e.g. `AcmeOutbound__e`); they are published with their JSON schema and
validated against it. Payload fields of each standard type are documented in docs/events.md.
"""

from __future__ import annotations

import re

from django.db import models

STANDARD_EVENT_TYPES: dict[str, str] = {
    "conversation.created": "A conversation was opened (inbound first message or agent outbound).",
    "conversation.closed": "A conversation was closed by an agent, the partner or a timeout.",
    "conversation.transferred": "A conversation moved to another agent, queue or bot.",
    "message.created": "A message was stored; data.direction is inbound or outbound.",
    "message.status_changed": "A message was delivered, read or failed.",
    "routing.requested": "Partner-owned routing: the partner must choose an agent or queue.",
    "work.offered": "A work item was offered to an agent.",
    "work.accepted": "An agent accepted an offer.",
    "work.declined": "An agent declined an offer.",
    "work.timed_out": "An offer expired unanswered.",
    "work.rescinded": "An offer was withdrawn before it was answered.",
    "work.closed": "Assigned work ended.",
    "work.acw_started": "After-conversation work started.",
    "work.acw_ended": "After-conversation work ended.",
    "agent.status_changed": "An agent's presence changed (online, busy, away, offline).",
    "agent.capacity_changed": "An agent's used or maximum capacity changed.",
    "consent.changed": "An end user's consent for a channel changed.",
    "typing.started": "Someone started typing in a conversation.",
    "typing.stopped": "Someone stopped typing in a conversation.",
    "call.created": "A voice call arrived at a call center (or an agent placed one).",
    "call.state_changed": "A call's status changed (ringing, connected, on hold…) or it got its agent.",
    "call.ended": "A call ended; data.end_reason and the hold and talk durations.",
    "call.recording_ready": "The partner's recording of a call is available at data.recording.url.",
    "transcript.segment": "A transcript segment of a call arrived (interim, or final replacing it).",
    "call.control_requested": "An agent asked for a call control; the partner carries it out and reports back.",
    "call.control_completed": "The partner reported a call control done or failed (agents only).",
    "sla.warning": "A conversation's SLA clock reached 80 % of its target (business time).",
    "sla.breached": "A conversation's SLA clock passed its due time before it was stopped.",
}

# Custom platform event types follow the package manifest's api_name convention.
CUSTOM_EVENT_TYPE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,76}__e$")

# A subscription filter that matches every event.
ALL_EVENTS = "*"


def is_standard_type(type_: str) -> bool:
    return type_ in STANDARD_EVENT_TYPES


def is_custom_type_name(type_: str) -> bool:
    return bool(CUSTOM_EVENT_TYPE_RE.match(type_))


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    DEAD = "dead", "Dead letter"
