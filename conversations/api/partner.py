"""Partner endpoints of the interaction service (PARTNER_API.md: Channels and agents, Interactions)."""

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from ccp.core.errors import Invalid
from ccp.core.schema import NON_EMPTY, declared
from ccp.packages.api.base import PartnerApi
from routing import selectors as routing_selectors
from routing import services as routing_services
from routing.api.serializers import AgentOutput
from routing.models import AgentWork
from tenants.selectors import channel_for_partner, partner_agents

from .. import selectors, services
from .serializers import ConversationOutput, MessageOutput, StatusInput


class InteractionApi(PartnerApi):
    required_scopes = ["interactions"]
    error_statuses = (404,)  # unknown_channel

    class InputSerializer(serializers.Serializer):
        # names the component; the body is declared, and checked, in conversations/services/inputs.py
        openapi_extra = declared(services.interaction_schema)

    class OutputSerializer(serializers.Serializer):
        class EntryResult(serializers.Serializer):
            id = serializers.CharField(allow_null=True)
            message_id = serializers.CharField(allow_null=True)
            duplicate = serializers.BooleanField()

        conversation_id = serializers.CharField(allow_null=True, help_text="null for typing with no conversation")
        session_id = serializers.CharField(allow_null=True)
        status = serializers.CharField()
        entries = EntryResult(many=True)

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer},
        summary="Send an end user's entries (messages, typing, receipts)",
        tags=["interactions"],
    )
    def post(self, request):
        data = services.interaction_envelope_check(request.data)
        result = services.interaction_receive(
            partner=self.partner,
            to=data["to"],
            from_address=data["from"],
            from_name=data.get("from_name") or "",
            entries=data["entries"],
            thread=data.get("thread", ""),
        )
        return Response(result, status=201)


class ConversationDetailApi(PartnerApi):
    required_scopes = ["interactions"]

    @extend_schema(responses=ConversationOutput, summary="A conversation", tags=["interactions"])
    def get(self, request, conversation_id):
        conversation = selectors.access_conversation_for_partner(partner=self.partner, conversation_id=conversation_id)
        return Response(ConversationOutput(selectors.conversation_detail(conversation=conversation)).data)


class ConversationMessagesApi(PartnerApi):
    required_scopes = ["interactions"]

    @extend_schema(
        parameters=[OpenApiParameter("after", str, description="a message id: return the entries after it")],
        responses=MessageOutput(many=True),
        summary="A conversation's entries, oldest first",
        tags=["interactions"],
    )
    def get(self, request, conversation_id):
        conversation = selectors.access_conversation_for_partner(partner=self.partner, conversation_id=conversation_id)
        messages = selectors.conversation_messages(conversation=conversation, after=request.query_params.get("after"))
        return Response([services.message_data(m) for m in messages])


class ConversationRouteApi(PartnerApi):
    required_scopes = ["routing"]
    acts_for_contact_centers = True

    class InputSerializer(serializers.Serializer):
        agent_id = serializers.CharField(required=False)
        queue = serializers.CharField(required=False)
        routing_request_id = serializers.UUIDField(required=False)
        openapi_extra = {"oneOf": [{"required": ["agent_id"]}, {"required": ["queue"]}]}

        def validate(self, attrs):
            if bool(attrs.get("agent_id")) == bool(attrs.get("queue")):
                raise serializers.ValidationError({"agent_id": ["give exactly one of agent_id or queue"]})
            return attrs

    class OutputSerializer(serializers.Serializer):
        work_id = serializers.CharField(allow_null=True)
        work_item_id = serializers.CharField()
        status = serializers.CharField()
        expires_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={202: OutputSerializer},
        summary="Partner-owned routing: offer to an agent or queue",
        tags=["routing"],
    )
    def post(self, request, conversation_id):
        conversation = selectors.access_conversation_for_partner(partner=self.partner, conversation_id=conversation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.route_by_partner(
            partner=self.partner,
            conversation=conversation,
            agent_id=data.validated_data.get("agent_id"),
            queue=data.validated_data.get("queue"),
            routing_request_id=data.validated_data.get("routing_request_id"),
        )
        if isinstance(result, AgentWork):
            body = {
                "work_id": str(result.id),
                "work_item_id": str(result.work_item_id),
                "status": result.status,
                "expires_at": result.expires_at,
            }
        else:
            body = {"work_id": None, "work_item_id": str(result.id), "status": result.status, "expires_at": None}
        return Response(self.OutputSerializer(body).data, status=202)


class ConversationCloseApi(PartnerApi):
    required_scopes = ["interactions"]

    @extend_schema(
        request=None, responses=ConversationOutput, summary="End the session and conversation", tags=["interactions"]
    )
    def post(self, request, conversation_id):
        conversation = selectors.access_conversation_for_partner(partner=self.partner, conversation_id=conversation_id)
        conversation = services.conversation_close(conversation=conversation, closed_by="partner")
        return Response(ConversationOutput(selectors.conversation_detail(conversation=conversation)).data)


class AgentListApi(PartnerApi):
    required_scopes = ["routing"]
    acts_for_contact_centers = True
    error_statuses = (404,)  # unknown_channel

    @extend_schema(
        parameters=[OpenApiParameter("to", NON_EMPTY, required=True, description="a channel_address_id of yours")],
        responses=AgentOutput(many=True),
        summary="The tenant's agents with status, skills and live capacity",
        tags=["routing"],
    )
    def get(self, request):
        to = request.query_params.get("to")
        if not to:
            raise Invalid("Give ?to=<channel_address_id>.", code="invalid", details={"to": ["is required"]})
        channel = channel_for_partner(partner=self.partner, channel_address_id=to)
        agents = routing_selectors.agents_with_capacity(
            tenant=channel.tenant, among=partner_agents(partner=self.partner)
        )
        return Response(AgentOutput(agents, many=True).data)


class AgentStatusApi(PartnerApi):
    required_scopes = ["routing"]
    acts_for_contact_centers = True

    @extend_schema(
        request=StatusInput, responses=AgentOutput, summary="Sync an agent's status (FIG 20)", tags=["routing"]
    )
    def put(self, request, agent_id):
        agent = selectors.access_agent_for_partner(partner=self.partner, agent_id=agent_id)
        data = StatusInput(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            routing_services.presence_set(membership=agent, status=data.validated_data["status"], source="partner")
        return Response(AgentOutput(routing_selectors.agent_with_capacity(membership=agent)).data)
