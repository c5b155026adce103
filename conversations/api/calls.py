"""Voice call endpoints (PARTNER_API.md "Voice calls"): the telephony partner's (scope
`interactions`) and the agent's (session login)."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response

from ccp.packages.api.base import PartnerApi

from .. import call_selectors
from ..call_states import ACTIONS, EVENT_TYPES, CallAction, CallDirection, CallEndReason, CallStatus
from ..services import calls as call_services
from ..services.call_records import call_data
from .agent import AgentApi


class _Recording(serializers.Serializer):
    url = serializers.URLField(allow_null=True, required=False, max_length=1000)
    duration_seconds = serializers.IntegerField(allow_null=True, required=False)
    content_type = serializers.CharField(allow_blank=True, required=False)
    paused = serializers.BooleanField(required=False)


class CallOutput(serializers.Serializer):
    id = serializers.CharField(help_text="ccp's id of the call")
    call_id = serializers.CharField(help_text="the partner's call key")
    conversation_id = serializers.CharField()
    channel_address_id = serializers.CharField()
    direction = serializers.CharField()
    from_ = serializers.CharField()
    from_name = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=CallStatus.choices)
    end_reason = serializers.CharField(allow_null=True)
    agent_id = serializers.CharField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    queued_at = serializers.DateTimeField()
    ringing_at = serializers.DateTimeField(allow_null=True)
    answered_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    hold_seconds = serializers.IntegerField()
    talk_seconds = serializers.IntegerField()
    muted = serializers.BooleanField()
    recording_paused = serializers.BooleanField()
    recording = _Recording(allow_null=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class CallControlOutput(serializers.Serializer):
    request_id = serializers.CharField()
    call_id = serializers.CharField()
    conversation_id = serializers.CharField()
    action = serializers.CharField()
    target = serializers.DictField(allow_null=True)
    digits = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    agent_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


class CallCreateApi(PartnerApi):
    """A call arrives at one of your call centers: ccp opens its conversation and routes it."""

    required_scopes = ["interactions"]
    error_statuses = (404,)  # unknown_channel

    @extend_schema_serializer(component_name="CallCreateInput")
    class InputSerializer(serializers.Serializer):
        to = serializers.CharField(max_length=200, help_text="the call center's channel_address_id")
        from_ = serializers.CharField(max_length=300, help_text="the caller's address")
        from_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        call_id = serializers.CharField(max_length=200, help_text="your call key, unique among your calls")
        direction = serializers.ChoiceField(choices=CallDirection.values, required=False)
        started_at = serializers.DateTimeField(required=False, allow_null=True)

        def get_fields(self):
            fields = super().get_fields()
            fields["from"] = fields.pop("from_")
            return fields

    class OutputSerializer(serializers.Serializer):
        call_id = serializers.CharField()
        conversation_id = serializers.CharField()
        status = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer},
        summary="Create a call (a repeat of the same call_id answers 200 with the same body)",
        tags=["calls"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        call, created = call_services.call_create(
            partner=self.partner,
            to=values["to"],
            from_address=values["from"],
            from_name=values.get("from_name") or "",
            call_id=values["call_id"],
            direction=values.get("direction") or CallDirection.INBOUND,
            started_at=values.get("started_at"),
        )
        return Response(call_services.call_create_body(call), status=201 if created else 200)


class CallDetailApi(PartnerApi):
    required_scopes = ["interactions"]

    @extend_schema(responses=CallOutput, summary="A call", tags=["calls"])
    def get(self, request, call_id):
        call = call_selectors.access_call_for_partner(partner=self.partner, call_id=call_id)
        return Response(CallOutput(call_data(call)).data)


class CallEventApi(PartnerApi):
    """Report what happened on the call; the state machine refuses what its state does not allow."""

    required_scopes = ["interactions"]

    @extend_schema_serializer(component_name="CallEventInput")
    class InputSerializer(serializers.Serializer):
        class Recording(serializers.Serializer):
            url = serializers.URLField(max_length=1000)
            duration_seconds = serializers.IntegerField(min_value=0, required=False, allow_null=True)
            content_type = serializers.CharField(max_length=100, required=False, allow_blank=True)

        id = serializers.CharField(max_length=200, help_text="your event id: repeats are harmless")
        type = serializers.ChoiceField(choices=list(EVENT_TYPES))
        at = serializers.DateTimeField(required=False, allow_null=True)
        reason = serializers.ChoiceField(choices=CallEndReason.values, required=False, allow_blank=True)
        recording = Recording(required=False, allow_null=True)

        def validate(self, attrs):
            if attrs.get("type") == "recording_ready" and not attrs.get("recording"):
                raise serializers.ValidationError({"recording": ["is required for recording_ready"]})
            return attrs

    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField()
        status = serializers.CharField()
        duplicate = serializers.BooleanField()

    @extend_schema(
        request=InputSerializer, responses={202: OutputSerializer}, summary="Report a call event", tags=["calls"]
    )
    def post(self, request, call_id):
        call = call_selectors.access_call_for_partner(partner=self.partner, call_id=call_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        recording = values.get("recording")
        result = call_services.call_event_receive(
            call=call,
            event_id=values["id"],
            type=values["type"],
            at=values.get("at"),
            reason=values.get("reason") or "",
            recording=dict(recording) if recording else None,
        )
        return Response(result, status=202)


class CallTranscriptApi(PartnerApi):
    """Live transcript segments: interim ones may be replaced by the final one of the same id."""

    required_scopes = ["interactions"]

    @extend_schema_serializer(component_name="CallTranscriptInput")
    class InputSerializer(serializers.Serializer):
        class Segment(serializers.Serializer):
            id = serializers.CharField(max_length=200)
            speaker = serializers.ChoiceField(choices=["end_user", "agent"])
            text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=settings.MESSAGE_MAX_CHARS)
            start_ms = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
            end_ms = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
            final = serializers.BooleanField(required=False)

        segments = Segment(many=True, allow_empty=False, max_length=call_services.MAX_SEGMENTS)

    class OutputSerializer(serializers.Serializer):
        class Result(serializers.Serializer):
            id = serializers.CharField()
            final = serializers.BooleanField()
            duplicate = serializers.BooleanField()

        segments = Result(many=True)

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer},
        summary="Add transcript segments (pushed live to the agent)",
        tags=["calls"],
    )
    def post(self, request, call_id):
        call = call_selectors.access_call_for_partner(partner=self.partner, call_id=call_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        segments = [dict(s) for s in data.validated_data["segments"]]
        results = call_services.call_transcript_receive(call=call, segments=segments)
        return Response({"segments": results}, status=201)


class CallControlResultApi(PartnerApi):
    """How a control ccp asked for (call.control_requested) went on your telephony system."""

    required_scopes = ["interactions"]

    @extend_schema_serializer(component_name="CallControlResultInput")
    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["done", "failed"])
        reason = serializers.CharField(max_length=300, required=False, allow_blank=True)

    @extend_schema(
        request=InputSerializer, responses=CallControlOutput, summary="Report a control's result", tags=["calls"]
    )
    def post(self, request, call_id, request_id):
        call = call_selectors.access_call_for_partner(partner=self.partner, call_id=call_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        done = call_services.call_control_result(
            call=call,
            request_id=request_id,
            status=data.validated_data["status"],
            reason=data.validated_data.get("reason", ""),
        )
        return Response(CallControlOutput(call_services.control_data(done)).data)


# --- agent ---


class AgentCallControlApi(AgentApi):
    """Ask for a call control (hold, mute, transfer, DTMF…); the partner carries it out."""

    @extend_schema_serializer(component_name="CallControlInput")
    class InputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="CallControlTarget")
        class Target(serializers.Serializer):
            agent_id = serializers.CharField(max_length=300, required=False)
            queue = serializers.CharField(max_length=300, required=False)
            address = serializers.CharField(max_length=300, required=False)
            openapi_extra = {
                "oneOf": [{"required": ["agent_id"]}, {"required": ["queue"]}, {"required": ["address"]}],
                "additionalProperties": False,
            }

        action = serializers.ChoiceField(choices=[a for a in ACTIONS if a != CallAction.DIAL])
        target = Target(required=False, allow_null=True, help_text="for transfer: exactly one of the three")
        digits = serializers.CharField(max_length=64, required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        request_id = serializers.CharField()
        status = serializers.CharField()

    @extend_schema(
        request=InputSerializer, responses={202: OutputSerializer}, summary="Request a call control", tags=["agent"]
    )
    def post(self, request, call_id):
        call = call_selectors.access_call(tenant=self.tenant, call_id=call_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        target = values.get("target")
        control = call_services.call_control_request(
            agent=self.membership,
            call=call,
            action=values["action"],
            target=dict(target) if target else None,
            digits=values.get("digits"),
        )
        return Response({"request_id": str(control.id), "status": control.status}, status=202)


class AgentCallsApi(AgentApi):
    """Your calls (live and recent, with their controls); place a call (consent-gated)."""

    error_statuses = {"post": (404,)}  # unknown_channel

    @extend_schema_serializer(component_name="CallDialInput")
    class InputSerializer(serializers.Serializer):
        channel_address_id = serializers.CharField(max_length=200)
        address = serializers.CharField(max_length=300)

    class OutputSerializer(serializers.Serializer):
        call_id = serializers.CharField()
        request_id = serializers.CharField()
        conversation_id = serializers.CharField()

    class CallWithControls(CallOutput):
        live = serializers.BooleanField()
        controls = CallControlOutput(many=True)

    @extend_schema(responses=CallWithControls(many=True), summary="Your live and recent calls", tags=["agent"])
    def get(self, request):
        calls = call_selectors.agent_calls(agent=self.membership)
        return Response([self.CallWithControls(call_services.call_detail(call=c)).data for c in calls])

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer}, summary="Place a call", tags=["agent"])
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        call, control = call_services.call_dial(agent=self.membership, **data.validated_data)
        return Response(
            {"call_id": call.call_id, "request_id": str(control.id), "conversation_id": str(call.conversation_id)},
            status=202,
        )
