"""Supervision and agent tools (session login): the live supervision list, monitor, notes and
whispers, barge in, reassign, an agent's presence set by a supervisor, canned responses, search.

Supervisor endpoints refuse a plain agent with 403 `supervisor_only` (tenants.api.base.SupervisorApi).
"""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from ccp.core.errors import Invalid
from routing import selectors as routing_selectors
from routing.api.serializers import AgentOutput
from tenants.api.base import MemberApi, SupervisorApi

from .. import selectors, selectors_tools, services
from ..services import canned as canned_services
from .serializers import ConversationOutput, StatusInput


class SupervisionConversationsApi(SupervisorApi):
    class OutputSerializer(serializers.Serializer):
        class AgentRow(serializers.Serializer):
            agent_id = serializers.CharField()
            name = serializers.CharField()
            role = serializers.CharField()
            barged_in = serializers.BooleanField()

        id = serializers.CharField()
        status = serializers.CharField()
        channel_address_id = serializers.CharField()
        channel_name = serializers.CharField()
        channel_type = serializers.CharField()
        contact_name = serializers.CharField()
        end_user = serializers.CharField()
        queue = serializers.CharField(allow_null=True)
        agents = AgentRow(many=True)
        started_at = serializers.DateTimeField()
        last_message_at = serializers.DateTimeField(allow_null=True)
        waiting_since = serializers.DateTimeField(allow_null=True)
        waiting_seconds = serializers.FloatField(allow_null=True)
        sla = serializers.JSONField(
            allow_null=True,
            help_text="The most urgent running SLA clock: {target, due_at, warn_at, state: ok|warning|breached}.",
        )
        call = serializers.JSONField(allow_null=True)

    @extend_schema(
        responses=OutputSerializer(many=True),
        summary="Every live conversation of the tenant (agents, waiting time, SLA state)",
        tags=["supervisor"],
    )
    def get(self, request):
        return Response(
            self.OutputSerializer(selectors_tools.supervision_conversations(tenant=self.tenant), many=True).data
        )


class ConversationMonitorApi(SupervisorApi):
    class OutputSerializer(serializers.Serializer):
        conversation_id = serializers.CharField()
        monitoring = serializers.BooleanField()
        agents_notified = serializers.BooleanField()
        conversation = ConversationOutput()

    @extend_schema(
        request=None,
        responses=OutputSerializer,
        summary="Monitor a conversation: its events reach your websocket, read-only",
        tags=["supervisor"],
    )
    def post(self, request, conversation_id):
        conversation = selectors.access_conversation(tenant=self.tenant, conversation_id=conversation_id)
        result = services.conversation_monitor(supervisor=self.membership, conversation=conversation)
        return Response({**result, "conversation": selectors.conversation_detail(conversation=conversation)})


class NoteOutput(serializers.Serializer):
    id = serializers.CharField()
    conversation_id = serializers.CharField()
    kind = serializers.ChoiceField(choices=["note", "whisper"])
    whisper = serializers.BooleanField()
    text = serializers.CharField()
    author_id = serializers.CharField(allow_null=True)
    author_name = serializers.CharField()
    author_role = serializers.CharField()
    after_seq = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class ConversationNotesApi(MemberApi):
    """Internal notes (the conversation's agents and supervisors) and whispers (supervisor → agents).
    Never published to the partner and never in the end user's history."""

    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(max_length=settings.MESSAGE_MAX_CHARS)
        whisper = serializers.BooleanField(default=False)

    @extend_schema(responses=NoteOutput(many=True), summary="The conversation's internal notes", tags=["agent"])
    def get(self, request, conversation_id):
        conversation = selectors.access_conversation_as_member(
            membership=self.membership, conversation_id=conversation_id, action="notes"
        )
        return Response([services.note_data(n) for n in services.conversation_notes(conversation=conversation)])

    @extend_schema(
        request=InputSerializer,
        responses={201: NoteOutput},
        summary="Write an internal note or (supervisors) a whisper",
        tags=["agent"],
    )
    def post(self, request, conversation_id):
        conversation = selectors.access_conversation_as_member(
            membership=self.membership, conversation_id=conversation_id, action="note", related=False
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = services.note_create(
            author=self.membership,
            conversation=conversation,
            text=data.validated_data["text"],
            whisper=data.validated_data["whisper"],
        )
        return Response(services.note_data(note), status=201)


class ConversationJoinApi(SupervisorApi):
    @extend_schema(
        request=None,
        responses=ConversationOutput,
        summary="Barge in: join the conversation; your messages go to the end user",
        tags=["supervisor"],
    )
    def post(self, request, conversation_id):
        conversation = selectors.access_conversation(tenant=self.tenant, conversation_id=conversation_id)
        conversation = services.conversation_join(supervisor=self.membership, conversation=conversation)
        return Response(ConversationOutput(selectors.conversation_detail(conversation=conversation)).data)


class ConversationReassignApi(SupervisorApi):
    class InputSerializer(serializers.Serializer):
        agent_id = serializers.CharField(required=False)
        queue = serializers.CharField(required=False)
        openapi_extra = {"oneOf": [{"required": ["agent_id"]}, {"required": ["queue"]}]}

    class OutputSerializer(serializers.Serializer):
        work_item_id = serializers.CharField()
        work_id = serializers.CharField(allow_null=True)
        status = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={202: OutputSerializer},
        summary="Reassign to an agent (within their capacity) or a queue",
        tags=["supervisor"],
    )
    def post(self, request, conversation_id):
        conversation = selectors.access_conversation(tenant=self.tenant, conversation_id=conversation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.conversation_reassign(
            supervisor=self.membership,
            conversation=conversation,
            agent_id=data.validated_data.get("agent_id"),
            queue=data.validated_data.get("queue"),
        )
        return Response(self.OutputSerializer(result).data, status=202)


class AgentPresenceBySupervisorApi(SupervisorApi):
    @extend_schema(request=StatusInput, responses=AgentOutput, summary="Set an agent's presence", tags=["supervisor"])
    def put(self, request, agent_id):
        agent = routing_selectors.access_agent(tenant=self.tenant, agent_id=agent_id)
        data = StatusInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.agent_presence_set_by_supervisor(
            supervisor=self.membership, agent=agent, status=data.validated_data["status"]
        )
        return Response(AgentOutput(routing_selectors.agent_with_capacity(membership=agent)).data)


class CannedOutput(serializers.Serializer):
    id = serializers.CharField()
    shortcut = serializers.CharField()
    title = serializers.CharField(allow_blank=True)
    text = serializers.CharField()
    shared = serializers.BooleanField()
    scope = serializers.ChoiceField(choices=["tenant", "personal"])
    owner_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CannedResponseListApi(MemberApi):
    """The tenant's shared canned responses and your own."""

    class InputSerializer(serializers.Serializer):
        shortcut = serializers.RegexField(r"^/?[a-zA-Z0-9][a-zA-Z0-9_-]{0,49}$", max_length=51)
        text = serializers.CharField(max_length=canned_services.MAX_TEXT)
        title = serializers.CharField(max_length=200, required=False, allow_blank=True)
        shared = serializers.BooleanField(default=False, help_text="Shared with the tenant (supervisors, admins).")
        scope = serializers.ChoiceField(
            choices=["tenant", "personal"], required=False, help_text="The same as `shared` (tenant = shared)."
        )

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="part of a shortcut or title")],
        responses=CannedOutput(many=True),
        summary="Canned responses you may use",
        tags=["agent"],
    )
    def get(self, request):
        found = selectors_tools.canned_for(membership=self.membership, q=request.query_params.get("q", "")[:50])
        return Response([canned_services.canned_data(c) for c in found[:500]])

    @extend_schema(
        request=InputSerializer, responses={201: CannedOutput}, summary="Add a canned response", tags=["agent"]
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        canned = canned_services.canned_create(
            membership=self.membership,
            shortcut=values["shortcut"],
            text=values["text"],
            title=values.get("title", ""),
            shared=values["scope"] == "tenant" if "scope" in values else values["shared"],
        )
        return Response(canned_services.canned_data(canned), status=201)


class CannedResponseDetailApi(MemberApi):
    error_statuses = {"patch": (409,)}  # shortcut_taken

    class InputSerializer(serializers.Serializer):
        shortcut = serializers.RegexField(r"^/?[a-zA-Z0-9][a-zA-Z0-9_-]{0,49}$", max_length=51, required=False)
        text = serializers.CharField(max_length=canned_services.MAX_TEXT, required=False)
        title = serializers.CharField(max_length=200, required=False, allow_blank=True)

    @extend_schema(responses=CannedOutput, summary="A canned response", tags=["agent"])
    def get(self, request, canned_response_id):
        canned = selectors_tools.access_canned(membership=self.membership, canned_id=canned_response_id)
        return Response(canned_services.canned_data(canned))

    @extend_schema(request=InputSerializer, responses=CannedOutput, summary="Change a canned response", tags=["agent"])
    def patch(self, request, canned_response_id):
        canned = selectors_tools.access_canned(membership=self.membership, canned_id=canned_response_id)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        canned = canned_services.canned_update(membership=self.membership, canned=canned, changes=data.validated_data)
        return Response(canned_services.canned_data(canned))

    @extend_schema(responses={204: None}, summary="Delete a canned response", tags=["agent"])
    def delete(self, request, canned_response_id):
        canned = selectors_tools.access_canned(membership=self.membership, canned_id=canned_response_id)
        canned_services.canned_delete(membership=self.membership, canned=canned)
        return Response(status=204)


class SearchApi(MemberApi):
    class OutputSerializer(serializers.Serializer):
        class MessageHit(serializers.Serializer):
            message_id = serializers.CharField()
            conversation_id = serializers.CharField()
            contact_name = serializers.CharField()
            direction = serializers.CharField()
            sender_name = serializers.CharField(allow_blank=True)
            created_at = serializers.DateTimeField()
            snippet = serializers.CharField(allow_blank=True)
            highlights = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
            rank = serializers.FloatField(allow_null=True)

        class ConversationHit(serializers.Serializer):
            conversation_id = serializers.CharField()
            contact_name = serializers.CharField()
            end_user = serializers.CharField()
            channel_address_id = serializers.CharField()
            status = serializers.CharField()
            created_at = serializers.DateTimeField()

        q = serializers.CharField()
        messages = MessageHit(many=True)
        conversations = ConversationHit(many=True)

    @extend_schema(
        parameters=[OpenApiParameter("q", str, required=True, description="words to find (web-search syntax)")],
        responses=OutputSerializer,
        summary="Search the conversations and messages you may see",
        tags=["agent"],
    )
    def get(self, request):
        q = request.query_params.get("q", "")
        if not q.strip():
            raise Invalid("Give something to search for in q.", details={"q": ["is required"]})
        return Response(self.OutputSerializer(selectors_tools.search(membership=self.membership, q=q)).data)
