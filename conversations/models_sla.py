"""SLA policies and each conversation's SLA clocks (docs/reports.md, "SLA").

A policy belongs to one queue or one channel of a tenant and sets targets, in business seconds, for
the first response, each next response and the resolution. A clock is one target running for one
conversation: its start, its due instant (start + target in the calendar's open time), when it
stopped, and when the sweep warned (80 %) and reported the breach.
"""

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from routing.models import Queue
from tenants.models import BusinessHours, Channel, Tenant


class SlaTarget(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    NEXT_RESPONSE = "next_response", "Next response"
    RESOLUTION = "resolution", "Resolution"


class SlaPolicy(models.Model):
    """Targets for one queue or one channel, counted in business time (a calendar, else the queue's or
    channel's own, else 24/7)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sla_policies")
    name = models.CharField(max_length=100)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.CASCADE, related_name="sla_policies")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="sla_policies")
    first_response_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Business seconds from the first end-user message to the first reply."
    )
    next_response_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Business seconds from an end-user message after a reply to the next reply."
    )
    resolution_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Business seconds from the conversation's opening to its close."
    )
    business_hours = models.ForeignKey(
        BusinessHours,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty: the queue's or channel's calendar, else always open.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="uniq_sla_policy_name"),
            models.UniqueConstraint(
                fields=["queue"], condition=Q(queue__isnull=False), name="one_sla_policy_per_queue"
            ),
            models.UniqueConstraint(
                fields=["channel"], condition=Q(channel__isnull=False), name="one_sla_policy_per_channel"
            ),
            models.CheckConstraint(
                condition=Q(queue__isnull=True, channel__isnull=False) | Q(queue__isnull=False, channel__isnull=True),
                name="sla_policy_queue_or_channel",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        if (self.queue_id is None) == (self.channel_id is None):
            raise ValidationError("Choose a queue or a channel (one of them).")
        for field in ("queue", "channel", "business_hours"):
            related = getattr(self, field)
            if related is not None and self.tenant_id and related.tenant_id != self.tenant_id:
                raise ValidationError({field: "Must belong to the policy's tenant."})
        if not any((self.first_response_seconds, self.next_response_seconds, self.resolution_seconds)):
            raise ValidationError("Set at least one target.")

    def target_seconds(self, target: str) -> int | None:
        return getattr(self, f"{target}_seconds")


class SlaClock(models.Model):
    """One SLA target running (or run) for one conversation."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="sla_clocks")
    policy = models.ForeignKey(SlaPolicy, null=True, on_delete=models.SET_NULL, related_name="clocks")
    policy_name = models.CharField(max_length=100, blank=True)
    target = models.CharField(max_length=16, choices=SlaTarget.choices)
    target_seconds = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True, help_text="Empty: the calendar never opens in time.")
    warn_at = models.DateTimeField(null=True, blank=True, help_text="80 % of the target's business time.")
    stopped_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    met = models.BooleanField(null=True, help_text="Set when the clock stops: stopped at or before due.")

    class Meta:
        ordering = ["started_at"]
        indexes = [
            models.Index(fields=["tenant", "started_at"], name="slaclock_tenant_started"),
            models.Index(fields=["due_at"], condition=Q(stopped_at__isnull=True), name="slaclock_running_due"),
            models.Index(fields=["warn_at"], condition=Q(stopped_at__isnull=True), name="slaclock_running_warn"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "target"], condition=Q(stopped_at__isnull=True), name="one_running_sla_clock"
            )
        ]

    def __str__(self) -> str:
        return f"{self.target} of {self.conversation_id}"
