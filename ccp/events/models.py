import uuid

from django.db import models

from ccp.packages.models import Partner
from tenants.models import Tenant

from .choices import DeliveryStatus


class Event(models.Model):
    """Something that happened in a tenant: a transactional outbox row, replayable by its replay id.

    `replay_id` is NULL until the publishing transaction committed; it is then assigned in commit
    order (see `ccp.events.services.event_assign_replay_ids`), so readers only see assigned ids.
    """

    id = models.BigAutoField(primary_key=True)
    replay_id = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="events")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, null=True, blank=True, related_name="events")
    type = models.CharField(max_length=80)
    data = models.JSONField(default=dict)
    agent_ids = models.JSONField(default=list, blank=True)
    occurred_at = models.DateTimeField()
    relayed_at = models.DateTimeField(null=True, blank=True)
    # Set when the websocket push failed (Redis down): `events_sweep` pushes it again once Redis is back.
    push_pending = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["replay_id"]
        indexes = [
            models.Index(fields=["partner", "replay_id"]),
            models.Index(fields=["id"], name="events_unassigned", condition=models.Q(replay_id__isnull=True)),
            models.Index(
                fields=["replay_id"],
                name="events_unrelayed",
                condition=models.Q(relayed_at__isnull=True, replay_id__isnull=False),
            ),
            models.Index(fields=["occurred_at"]),
            models.Index(fields=["replay_id"], name="events_push_pending", condition=models.Q(push_pending=True)),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.replay_id or '-'}"


class ReplayWatermark(models.Model):
    """How far pruning has gone: cursors below `pruned_through` are older than retention (one row)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    pruned_through = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"pruned through #{self.pruned_through}"


class Subscription(models.Model):
    """A partner's webhook: where to POST which event types, and the secret that signs them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="subscriptions")
    url = models.CharField(max_length=2000, help_text="https endpoint; checked by services.webhook_url_check.")
    event_types = models.JSONField(default=list)
    # Kept in clear because HMAC signing needs it; shown to the partner only once, at creation.
    secret = models.CharField(max_length=128)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.partner.partner_identifier} → {self.url}"

    def matches(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types


class Delivery(models.Model):
    """One event to one subscription: its status, next retry and whether it became a dead letter."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # Start of the retry window: creation, or the last redelivery request.
    window_started_at = models.DateTimeField()
    # A worker that claimed the delivery owns it until then (so duplicates of the task do not send twice).
    claimed_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["subscription", "event"], name="delivery_once")]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"delivery of {self.event_id} to {self.subscription_id}: {self.status}"


class DeliveryAttempt(models.Model):
    """One HTTP POST of a delivery: the answer's status code or the error, and how long it took."""

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    latency_ms = models.PositiveIntegerField()
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"attempt {self.status_code or self.error} on {self.delivery_id}"
