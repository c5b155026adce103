"""Partner endpoints of the event bus (scope `events`): replay, webhook subscriptions, deliveries.

Views parse, call a selector or service, and serialize; the live stream is in stream.py (ASGI).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from ccp.packages.api.base import PartnerApi

from .. import selectors, services
from .serializers import DeliverySerializer, EnvelopeSerializer, SubscriptionSerializer

TAGS = ["events"]


CURSOR = {"type": "integer", "minimum": 0, "maximum": selectors.MAX_CURSOR}
LIMIT = {"type": "integer", "minimum": 1, "maximum": selectors.MAX_PAGE}


class EventsApi(PartnerApi):
    required_scopes = ["events"]


class EventListApi(EventsApi):
    """Replay: the partner's events after a cursor, oldest first."""

    error_statuses = (410,)  # replay_expired: the cursor is older than the retention period

    @extend_schema_serializer(component_name="EventPage")
    class OutputSerializer(serializers.Serializer):
        events = EnvelopeSerializer(many=True)
        next_after = serializers.IntegerField(help_text="Pass as `after` to read the next page.")

    @extend_schema(
        summary="Replay events",
        tags=TAGS,
        parameters=[
            OpenApiParameter("after", CURSOR, description="Replay id to read after (default: the oldest)."),
            OpenApiParameter("limit", LIMIT, description="1 to 1000, default 100."),
        ],
        responses=OutputSerializer,
    )
    def get(self, request):
        after = selectors.parse_cursor(request.query_params.get("after"))
        limit = selectors.parse_limit(request.query_params.get("limit"))
        start = selectors.replay_start(partner=self.partner, after=after)
        events = selectors.event_page(partner=self.partner, after=start, limit=limit)
        data = {
            "events": [selectors.event_envelope(e) for e in events],
            "next_after": events[-1].replay_id if events else start,
        }
        return Response(self.OutputSerializer(data).data)


class SubscriptionListCreateApi(EventsApi):
    """The partner's webhook subscriptions."""

    @extend_schema_serializer(component_name="SubscriptionInput")
    class InputSerializer(serializers.Serializer):
        url = serializers.CharField(max_length=2000)
        event_types = serializers.ListField(child=serializers.CharField(max_length=100), default=["*"])
        openapi_extra = {"properties": {"event_types": {"minItems": 1}}}  # [] is refused: invalid_event_types

    @extend_schema_serializer(component_name="SubscriptionCreated")
    class CreatedSerializer(SubscriptionSerializer):
        secret = serializers.CharField(help_text="Signs deliveries (CCP-Signature). Shown only now.")

    @extend_schema(summary="List webhook subscriptions", tags=TAGS, responses=SubscriptionSerializer(many=True))
    def get(self, request):
        subscriptions = selectors.subscription_list(partner=self.partner)
        return Response(SubscriptionSerializer(subscriptions, many=True).data)

    @extend_schema(
        summary="Create a webhook subscription",
        tags=TAGS,
        request=InputSerializer,
        responses={201: CreatedSerializer},
    )
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        subscription, secret = services.subscription_create(partner=self.partner, **payload.validated_data)
        data = {**SubscriptionSerializer(subscription).data, "secret": secret}
        return Response(self.CreatedSerializer(data).data, status=status.HTTP_201_CREATED)


class SubscriptionDetailApi(EventsApi):
    """One webhook subscription: read or remove."""

    @extend_schema(summary="Read a webhook subscription", tags=TAGS, responses=SubscriptionSerializer)
    def get(self, request, subscription_id):
        subscription = selectors.access_subscription(partner=self.partner, subscription_id=subscription_id)
        return Response(SubscriptionSerializer(subscription).data)

    @extend_schema(summary="Remove a webhook subscription", tags=TAGS, responses={204: None})
    def delete(self, request, subscription_id):
        subscription = selectors.access_subscription(partner=self.partner, subscription_id=subscription_id)
        services.subscription_delete(subscription=subscription)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryListApi(EventsApi):
    """A subscription's deliveries, newest first, each with every attempt."""

    @extend_schema_serializer(component_name="DeliveryPage")
    class OutputSerializer(serializers.Serializer):
        deliveries = DeliverySerializer(many=True)

    @extend_schema(
        summary="List deliveries and their attempts",
        tags=TAGS,
        parameters=[OpenApiParameter("limit", LIMIT, description="1 to 1000, default 100.")],
        responses=OutputSerializer,
    )
    def get(self, request, subscription_id):
        subscription = selectors.access_subscription(partner=self.partner, subscription_id=subscription_id)
        limit = selectors.parse_limit(request.query_params.get("limit"))
        deliveries = selectors.delivery_list(subscription=subscription, limit=limit)
        return Response(self.OutputSerializer({"deliveries": deliveries}).data)


class DeliveryRedeliverApi(EventsApi):
    """Send a delivered or dead delivery again."""

    @extend_schema(summary="Redeliver", tags=TAGS, request=None, responses={202: DeliverySerializer})
    def post(self, request, subscription_id, delivery_id):
        subscription = selectors.access_subscription(partner=self.partner, subscription_id=subscription_id)
        delivery = selectors.access_delivery(subscription=subscription, delivery_id=delivery_id)
        services.delivery_redeliver(delivery=delivery)
        delivery = selectors.access_delivery(subscription=subscription, delivery_id=delivery_id)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
