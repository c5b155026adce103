"""The partner's consent API (scope `consent`, FIG 16A/16B): read the decision, change it as owner."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from ccp.core.errors import Invalid
from ccp.core.schema import NON_EMPTY
from ccp.packages.api.base import PartnerApi
from tenants.selectors import channel_for_partner

from .. import services
from .serializers import ConsentInput, ConsentOutput, consent_output


class ConsentApi(PartnerApi):
    required_scopes = ["consent"]
    error_statuses = (404,)  # unknown_channel

    @extend_schema(
        summary="Evaluate consent (FIG 16B)",
        tags=["consent"],
        parameters=[
            OpenApiParameter("to", NON_EMPTY, required=True, description="The channel address id."),
            OpenApiParameter("address", NON_EMPTY, required=True, description="The end user's address."),
        ],
        responses=ConsentOutput,
    )
    def get(self, request):
        to, address = request.query_params.get("to"), request.query_params.get("address")
        missing = {k: ["is required"] for k, v in (("to", to), ("address", address)) if not v}
        if missing:
            raise Invalid("Give the channel (to) and the end user's address.", details=missing)
        channel = channel_for_partner(partner=self.partner, channel_address_id=to)
        return Response(ConsentOutput(consent_output(channel=channel, address=address)).data)

    @extend_schema(
        summary="Change consent as the consent owner (FIG 16A)",
        tags=["consent"],
        request=ConsentInput,
        responses=ConsentOutput,
    )
    def put(self, request):
        data = ConsentInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        channel = channel_for_partner(partner=self.partner, channel_address_id=values["to"])
        services.consent_update(
            channel=channel,
            address=values["address"],
            status=values["status"],
            source=values["source"],
            actor=f"partner:{self.partner.partner_identifier}",
            as_owner="partner",
        )
        return Response(ConsentOutput(consent_output(channel=channel, address=values["address"])).data)
