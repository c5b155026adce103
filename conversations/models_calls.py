"""Voice calls of conversations (FIG 3 306, FIG 13 1322, FIG 22 2218): the call record, its state
changes, the agent's control requests and the transcript. Imported by conversations.models."""

import uuid

from django.db import models
from django.db.models import Q

from ccp.packages.models import Partner
from tenants.models import Membership, Tenant

from .call_states import CallAction, CallDirection, CallEndReason, CallStatus, ControlStatus, Speaker


class Call(models.Model):
    """A voice call of a conversation on a call-center channel; the partner's telephony owns the media."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="calls")
    session = models.ForeignKey(
        "conversations.Session", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    call_id = models.CharField(max_length=200, help_text="The partner's call key, unique per partner.")
    direction = models.CharField(max_length=16, choices=CallDirection.choices, default=CallDirection.INBOUND)
    from_address = models.CharField(max_length=300, help_text="The caller (inbound) or the number dialled.")
    from_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=CallStatus.choices, default=CallStatus.QUEUED)
    end_reason = models.CharField(max_length=16, choices=CallEndReason.choices, blank=True)
    agent = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True, help_text="When the partner says the call started.")
    queued_at = models.DateTimeField(auto_now_add=True)
    ringing_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    held_since = models.DateTimeField(null=True, blank=True, help_text="Start of the current hold.")
    ended_at = models.DateTimeField(null=True, blank=True)
    hold_seconds = models.PositiveIntegerField(default=0)
    talk_seconds = models.PositiveIntegerField(default=0)
    muted = models.BooleanField(default=False)
    recording_url = models.URLField(max_length=1000, blank=True)
    recording_duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    recording_content_type = models.CharField(max_length=100, blank=True)
    recording_paused = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["tenant", "status"])]
        constraints = [models.UniqueConstraint(fields=["partner", "call_id"], name="uniq_call_id_per_partner")]

    def __str__(self) -> str:
        return f"call {self.call_id} ({self.status})"


class CallEvent(models.Model):
    """A state change or partner report of a call; the partner's event id makes repeats harmless."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events")
    partner_event_id = models.CharField(max_length=200, null=True, blank=True)
    type = models.CharField(max_length=32)
    source = models.CharField(max_length=16, default="partner", help_text="partner, agent or platform")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(help_text="When it happened (the partner's time when given).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["call", "partner_event_id"],
                condition=Q(partner_event_id__isnull=False),
                name="idempotent_call_event",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.from_status}→{self.to_status}"


class CallControlRequest(models.Model):
    """A call control an agent asked for (hold, transfer, dial…), carried out by the partner."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, help_text="The request_id.")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="controls")
    action = models.CharField(max_length=32, choices=CallAction.choices)
    target = models.JSONField(null=True, blank=True, help_text='{"agent_id"}, {"queue"} or {"address"}')
    digits = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=ControlStatus.choices, default=ControlStatus.PENDING)
    reason = models.CharField(max_length=300, blank=True)
    requested_by = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.action} ({self.status})"


class TranscriptSegment(models.Model):
    """A piece of a call's live transcript; a final segment replaces the interim one of the same id."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="segments")
    segment_id = models.CharField(max_length=200)
    speaker = models.CharField(max_length=16, choices=Speaker.choices)
    text = models.TextField()
    start_ms = models.PositiveIntegerField(default=0)
    end_ms = models.PositiveIntegerField(default=0)
    final = models.BooleanField(default=False)
    message = models.ForeignKey(
        "conversations.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The conversation history entry of a final segment.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start_ms", "id"]
        constraints = [models.UniqueConstraint(fields=["call", "segment_id"], name="uniq_segment_per_call")]

    def __str__(self) -> str:
        return f"{self.speaker}: {self.text[:40]}"
