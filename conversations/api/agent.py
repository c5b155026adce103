"""The agent API (session login, same origin): what the workspace calls. Events arrive on /ws/agent/."""

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from ccp.core.schema import declared
from routing import selectors as routing_selectors
from routing import services as routing_services
from routing.api.serializers import AgentOutput
from routing.errors import OfferExpired
from tenants.api.base import MemberApi
from tenants.choices import Role

from .. import selectors, services
from ..sla_selectors import sla_for_conversations
from .serializers import ConversationOutput, MessageOutput, StatusInput, WorkAnswer


class AgentApi(MemberApi):
    """Base of agent endpoints: session login; sets `self.membership` and `self.tenant`."""


def _agent_row(membership) -> dict:
    """The caller's row of the directory: their own skills and load only, not the whole tenant's."""
    return routing_selectors.agent_with_capacity(membership=membership)


def _offer_data(work) -> dict:
    return {
        "work_id": str(work.id),
        "status": work.status,
        "expires_at": work.expires_at,
        "offered_at": work.offered_at,
        "acw_ends_at": work.acw_ends_at,
        "is_transfer": work.work_item.is_transfer,
        "attributes": work.work_item.attributes,
    }


class AgentOnlyApi(AgentApi):
    """Endpoints about the caller's own presence and work: a tenant admin has neither (403 not_an_agent)."""

    allowed_roles = (Role.AGENT, Role.SUPERVISOR)
    role_refusal = (
        "not_an_agent",
        "Only agents and supervisors have a presence and work; a tenant admin manages the tenant in the admin.",
    )


class AgentStateApi(AgentOnlyApi):
    """Everything the workspace needs on load and after a reconnect: presence, capacity, offers, conversations."""

    class OutputSerializer(serializers.Serializer):
        class Work(serializers.Serializer):
            work_id = serializers.CharField()
            status = serializers.CharField()
            expires_at = serializers.DateTimeField()
            offered_at = serializers.DateTimeField()
            acw_ends_at = serializers.DateTimeField(allow_null=True)
            is_transfer = serializers.BooleanField()
            attributes = serializers.DictField()

        class HeldConversation(serializers.Serializer):
            id = serializers.CharField()
            status = serializers.CharField()
            channel_address_id = serializers.CharField()
            channel_name = serializers.CharField()
            end_user = serializers.CharField()
            contact_id = serializers.CharField()
            contact_name = serializers.CharField()
            routing_owner = serializers.CharField()
            subject = serializers.CharField(allow_blank=True)
            last_message_at = serializers.DateTimeField(allow_null=True)
            sla = serializers.JSONField(
                allow_null=True,
                help_text="The most urgent running SLA clock: {target, due_at, warn_at, state: ok|warning|breached}.",
            )

        agent = AgentOutput()
        work = Work(many=True)
        conversations = HeldConversation(many=True)

    @extend_schema(responses=OutputSerializer, summary="The agent's current state", tags=["agent"])
    def get(self, request):
        works = [_offer_data(w) for w in routing_selectors.open_work_for_agent(membership=self.membership)]
        held = list(selectors.agent_conversations(agent=self.membership))
        slas = sla_for_conversations(conversation_ids=[c.id for c in held])
        conversations = [
            {
                **services.conversation_data(c),
                "id": str(c.id),
                "contact_name": c.contact.name or c.end_user_address,
                "channel_name": c.channel.name if c.channel else c.channel_address_id,
                "last_message_at": c.last_message_at,
                "sla": slas.get(str(c.id)),
            }
            for c in held
        ]
        return Response(
            {"agent": AgentOutput(_agent_row(self.membership)).data, "work": works, "conversations": conversations}
        )


class AgentStatusSelfApi(AgentOnlyApi):
    @extend_schema(request=StatusInput, responses=AgentOutput, summary="Set your presence", tags=["agent"])
    def put(self, request):
        data = StatusInput(data=request.data)
        data.is_valid(raise_exception=True)
        routing_services.presence_set(membership=self.membership, status=data.validated_data["status"])
        return Response(AgentOutput(_agent_row(self.membership)).data)


class WorkAcceptApi(AgentApi):
    @extend_schema(request=None, responses=ConversationOutput, summary="Accept an offer", tags=["agent"])
    def post(self, request, work_id):
        work = routing_selectors.access_work(tenant=self.tenant, work_id=work_id, agent=self.membership)
        conversation = services.agent_work_accept(agent=self.membership, work=work)
        return Response(ConversationOutput(selectors.conversation_detail(conversation=conversation)).data)


class WorkDeclineApi(AgentApi):
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, max_length=200)

    @extend_schema(request=InputSerializer, responses=WorkAnswer, summary="Decline an offer", tags=["agent"])
    def post(self, request, work_id):
        work = routing_selectors.access_work(tenant=self.tenant, work_id=work_id, agent=self.membership)
        data = self.InputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        work = services.agent_work_decline(work=work, reason=data.validated_data.get("reason", ""))
        return Response(WorkAnswer({"work_id": str(work.id), "status": work.status, "expires_at": None}).data)


class AcwCompleteApi(AgentApi):
    @extend_schema(request=None, responses=WorkAnswer, summary="End after-conversation work", tags=["agent"])
    def post(self, request, work_id):
        work = routing_selectors.access_work(tenant=self.tenant, work_id=work_id, agent=self.membership)
        with transaction.atomic():
            ended = routing_services.work_acw_end(work=work, force=True)
        if ended is None:
            raise OfferExpired("There is no after-conversation work to complete.", code="acw_not_active")
        return Response(WorkAnswer({"work_id": str(ended.id), "status": ended.status, "expires_at": None}).data)


class AcwExtendApi(AgentApi):
    class InputSerializer(serializers.Serializer):
        seconds = serializers.IntegerField(min_value=1, max_value=3600, default=60)

    @extend_schema(
        request=InputSerializer, responses=WorkAnswer, summary="Extend after-conversation work", tags=["agent"]
    )
    def post(self, request, work_id):
        work = routing_selectors.access_work(tenant=self.tenant, work_id=work_id, agent=self.membership)
        data = self.InputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            work = routing_services.work_acw_extend(work=work, seconds=data.validated_data["seconds"])
        return Response(
            WorkAnswer({"work_id": str(work.id), "status": work.status, "expires_at": work.acw_ends_at}).data
        )


class AgentConversationListApi(AgentApi):
    @extend_schema(responses=ConversationOutput(many=True), summary="Conversations you hold", tags=["agent"])
    def get(self, request):
        conversations = selectors.agent_conversations(agent=self.membership)
        return Response([ConversationOutput(selectors.conversation_detail(conversation=c)).data for c in conversations])


class AgentConversationDetailApi(AgentApi):
    @extend_schema(responses=ConversationOutput, summary="A conversation you hold or held", tags=["agent"])
    def get(self, request, conversation_id):
        conversation = selectors.access_conversation_as_member(
            membership=self.membership, conversation_id=conversation_id, action="detail"
        )
        return Response(ConversationOutput(selectors.conversation_detail(conversation=conversation)).data)


class AgentMessagesApi(AgentApi):
    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
        attachments = serializers.JSONField(required=False)
        openapi_extra = declared(services.reply_schema)

    @extend_schema(
        parameters=[OpenApiParameter("after", str, description="a message id")],
        responses=MessageOutput(many=True),
        summary="The transcript, oldest first",
        tags=["agent"],
    )
    def get(self, request, conversation_id):
        conversation = selectors.access_conversation_as_member(
            membership=self.membership, conversation_id=conversation_id, action="transcript"
        )
        messages = selectors.conversation_messages(conversation=conversation, after=request.query_params.get("after"))
        return Response([services.message_data(m) for m in messages])

    @extend_schema(request=InputSerializer, responses={201: MessageOutput}, summary="Send a message", tags=["agent"])
    def post(self, request, conversation_id):
        conversation = selectors.access_conversation(tenant=self.tenant, conversation_id=conversation_id, related=False)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_send(
            agent=self.membership,
            conversation=conversation,
            text=data.validated_data.get("text", ""),
            attachments=data.validated_data.get("attachments"),
        )
        return Response(services.message_data(message), status=201)


class AgentTypingApi(AgentApi):
    class InputSerializer(serializers.Serializer):
        typing = serializers.BooleanField()

    @extend_schema(
        request=InputSerializer, responses={204: None}, summary="Tell the end user you are typing", tags=["agent"]
    )
    def post(self, request, conversation_id):
        conversation = selectors.access_conversation(tenant=self.tenant, conversation_id=conversation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.agent_typing(agent=self.membership, conversation=conversation, typing=data.validated_data["typing"])
        return Response(status=204)


class AgentTransferApi(AgentApi):
    class InputSerializer(serializers.Serializer):
        agent_id = serializers.CharField(required=False)
        queue = serializers.CharField(required=False)
        bot = serializers.CharField(required=False)
        openapi_extra = {"oneOf": [{"required": ["agent_id"]}, {"required": ["queue"]}, {"required": ["bot"]}]}

    class OutputSerializer(serializers.Serializer):
        work_item_id = serializers.CharField(allow_null=True)
        work_id = serializers.CharField(allow_null=True)
        status = serializers.CharField()

    @extend_schema(
        request=InputSerializer, responses={202: OutputSerializer}, summary="Transfer (FIG 14)", tags=["agent"]
    )
    def post(self, request, conversation_id):
        conversation = selectors.access_conversation(tenant=self.tenant, conversation_id=conversation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.conversation_transfer(
            agent=self.membership,
            conversation=conversation,
            to_agent_id=data.validated_data.get("agent_id"),
            queue=data.validated_data.get("queue"),
            bot=data.validated_data.get("bot"),
        )
        return Response(self.OutputSerializer(result).data, status=202)


class AgentCloseApi(AgentApi):
    @extend_schema(request=None, responses=ConversationOutput, summary="Close a conversation", tags=["agent"])
    def post(self, request, conversation_id):
        conversation = selectors.access_conversation(tenant=self.tenant, conversation_id=conversation_id)
        conversation = services.conversation_close(conversation=conversation, closed_by="agent", agent=self.membership)
        return Response(ConversationOutput(selectors.conversation_detail(conversation=conversation)).data)


class AgentDirectoryApi(AgentApi):
    """Colleagues with status and load (the transfer dialog) and the tenant's queues."""

    class OutputSerializer(serializers.Serializer):
        agents = AgentOutput(many=True)
        queues = serializers.ListField(child=serializers.CharField())

    @extend_schema(responses=OutputSerializer, summary="Agents and queues to transfer to", tags=["agent"])
    def get(self, request):
        return Response(
            {
                "agents": AgentOutput(routing_selectors.agents_with_capacity(tenant=self.tenant), many=True).data,
                "queues": routing_selectors.queue_names(tenant=self.tenant),
            }
        )
