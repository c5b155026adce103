"""Agent endpoints of consent and outbound (FIG 15, 16): start a conversation; read and set consent."""

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response

from ccp.core.errors import Invalid
from ccp.core.schema import NON_EMPTY
from consent import services as consent_services
from consent.api.serializers import ConsentInput, ConsentOutput, consent_output
from consent.choices import ConsentSource
from tenants import selectors as tenant_selectors

from .. import services
from .agent import AgentApi
from .serializers import MessageOutput


class AgentOutboundApi(AgentApi):
    """Start a conversation with an end user (consent-gated): 403 consent_denied explains a refusal."""

    error_statuses = (404,)  # unknown_channel

    @extend_schema_serializer(component_name="OutboundInput")
    class InputSerializer(serializers.Serializer):
        channel_address_id = serializers.CharField(max_length=200)
        address = serializers.CharField(max_length=300)
        text = serializers.CharField(trim_whitespace=False)

    @extend_schema(
        request=InputSerializer,
        responses={201: MessageOutput},
        summary="Start an outbound conversation",
        tags=["agent"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.conversation_start_outbound(agent=self.membership, **data.validated_data)
        return Response(services.message_data(message), status=201)


class AgentConsentApi(AgentApi):
    """Read an end user's consent; change it when the platform owns consent on the channel."""

    error_statuses = (404,)  # unknown_channel

    @extend_schema(
        parameters=[
            OpenApiParameter("to", NON_EMPTY, required=True, description="The channel address id."),
            OpenApiParameter("address", NON_EMPTY, required=True, description="The end user's address."),
        ],
        responses=ConsentOutput,
        summary="An end user's consent, explained",
        tags=["agent"],
    )
    def get(self, request):
        to, address = request.query_params.get("to"), request.query_params.get("address")
        if not to or not address:
            raise Invalid("Give the channel (to) and the end user's address.", details={"to": ["is required"]})
        return Response(
            ConsentOutput(
                consent_output(
                    channel=tenant_selectors.access_channel(tenant=self.tenant, channel_address_id=to), address=address
                )
            ).data
        )

    @extend_schema(request=ConsentInput, responses=ConsentOutput, summary="Change consent", tags=["agent"])
    def put(self, request):
        # An agent's change is always the agent's: a `source` they send (e.g. "keyword") is ignored.
        body = request.data if isinstance(request.data, dict) else {}
        data = ConsentInput(data={**body, "source": ConsentSource.AGENT})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        channel = tenant_selectors.access_channel(tenant=self.tenant, channel_address_id=values["to"])
        with transaction.atomic():
            consent_services.consent_update(
                channel=channel,
                address=values["address"],
                status=values["status"],
                source=ConsentSource.AGENT,
                actor=f"agent:{self.membership.pk}",
                as_owner="platform",
            )
        return Response(ConsentOutput(consent_output(channel=channel, address=values["address"])).data)
