"""Shapes shared by the event bus endpoints (the envelope, deliveries); per-view ones are nested."""

from rest_framework import serializers


class EnvelopeSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Replay id: increasing, use it as the `after` cursor.")
    type = serializers.CharField()
    tenant = serializers.CharField(help_text="The tenant's slug.")
    occurred_at = serializers.CharField(help_text="ISO 8601 UTC.")
    data = serializers.DictField()


class SubscriptionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.URLField()
    event_types = serializers.ListField(child=serializers.CharField())
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class AttemptSerializer(serializers.Serializer):
    attempted_at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    latency_ms = serializers.IntegerField()
    succeeded = serializers.BooleanField()


class DeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    event_id = serializers.IntegerField(source="event.replay_id")
    event_type = serializers.CharField(source="event.type")
    status = serializers.CharField(help_text="pending, retrying, delivered or dead (a dead letter).")
    attempt_count = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    attempts = AttemptSerializer(many=True, source="attempts.all")
