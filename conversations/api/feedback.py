"""Feedback on a conversation's route (0176, 0181) and its summary (0069), for agents and partners.

Routing owns RouteFeedback and the summary logic; these views only resolve the conversation through
the caller's scope (tenant for agents, partner for partners) and hand routing the session's work item.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from ccp.packages.api.base import PartnerApi
from routing import selectors as routing_selectors
from routing import services as routing_services
from routing.models import RouteFeedback

from .. import selectors
from ..choices import Direction
from .agent import AgentApi


class FeedbackInput(serializers.Serializer):
    resolved = serializers.BooleanField()
    rating = serializers.IntegerField(min_value=1, max_value=5, required=False, allow_null=True)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class FeedbackOutput(serializers.Serializer):
    id = serializers.IntegerField()
    work_item_id = serializers.CharField()
    source = serializers.CharField()
    resolved = serializers.BooleanField()
    rating = serializers.IntegerField(allow_null=True)
    comment = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


def _record(conversation, data: dict, source: str) -> dict:
    work_item = routing_selectors.routed_work_item(
        tenant=conversation.tenant, references=[str(pk) for pk in conversation.sessions.values_list("pk", flat=True)]
    )
    feedback = routing_services.route_feedback_record(
        tenant=conversation.tenant,
        work_item=work_item,
        source=source,
        resolved=data["resolved"],
        rating=data.get("rating"),
        comment=data.get("comment") or "",
    )
    return FeedbackOutput(
        {
            "id": feedback.pk,
            "work_item_id": str(work_item.pk),
            "source": feedback.source,
            "resolved": feedback.resolved,
            "rating": feedback.rating,
            "comment": feedback.comment,
            "created_at": feedback.created_at,
        }
    ).data


class AgentConversationFeedbackApi(AgentApi):
    """An agent says whether the conversation ended resolved: the weight of its route in training."""

    InputSerializer = FeedbackInput
    OutputSerializer = FeedbackOutput

    @extend_schema(
        request=InputSerializer, responses={201: OutputSerializer}, summary="Feedback on a route", tags=["agent"]
    )
    def post(self, request, conversation_id):
        conversation = selectors.access_conversation_as_member(
            membership=self.membership, conversation_id=conversation_id, action="feedback"
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(_record(conversation, data.validated_data, RouteFeedback.Source.AGENT), status=201)


class ConversationFeedbackApi(PartnerApi):
    """The end user's feedback, relayed by the partner (e.g. a "did this solve it?" button on the channel)."""

    required_scopes = ["interactions"]
    InputSerializer = FeedbackInput
    OutputSerializer = FeedbackOutput

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer},
        summary="End-user feedback on a conversation's route",
        tags=["interactions"],
    )
    def post(self, request, conversation_id):
        conversation = selectors.access_conversation_for_partner(partner=self.partner, conversation_id=conversation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(_record(conversation, data.validated_data, RouteFeedback.Source.END_USER), status=201)


class AgentConversationSummaryApi(AgentApi):
    """A summary of the conversation for the agent: generated when a provider is configured, else the
    customer's own sentences (`source` says which; nothing fakes generated text)."""

    class OutputSerializer(serializers.Serializer):
        summary = serializers.CharField(allow_blank=True)
        source = serializers.ChoiceField(choices=["provider", "extractive"])
        note = serializers.CharField(allow_blank=True)

    @extend_schema(responses=OutputSerializer, summary="The conversation's summary", tags=["agent"])
    def get(self, request, conversation_id):
        conversation = selectors.access_conversation_as_member(
            membership=self.membership, conversation_id=conversation_id, action="summary"
        )
        messages = [
            {"sender": "customer" if m.direction == Direction.INBOUND else "agent", "text": m.text}
            for m in selectors.conversation_messages(conversation=conversation, limit=500)
            if m.text and m.direction != Direction.SYSTEM
        ]
        return Response(
            self.OutputSerializer(routing_services.conversation_summary(tenant=self.tenant, messages=messages)).data
        )
