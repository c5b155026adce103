"""POST /api/v1/packages/draft/: a generative model drafts a package manifest from a description (0115).

Lives in routing (which may import ccp.packages) because ccp.packages, the lowest layer, may not
import routing's AI. Nothing is created: the partner reviews the draft and its problems, then
creates the package through POST /api/v1/packages/ as usual.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from ccp.packages.api.base import PartnerApi

from .. import services as routing_services


class PackageDraftApi(PartnerApi):
    required_scopes = ["packages"]

    class InputSerializer(serializers.Serializer):
        description = serializers.CharField(max_length=4000)

    class OutputSerializer(serializers.Serializer):
        manifest = serializers.DictField(allow_null=True, help_text="The draft; null when the answer held no JSON")
        problems = serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()), help_text="validate_manifest's findings"
        )
        valid = serializers.BooleanField()
        model = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer},
        summary="Draft a package manifest with the generative model (nothing is created)",
        tags=["packages"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        client_ids = set(self.partner.connected_apps.values_list("application__client_id", flat=True))
        draft = routing_services.package_draft(
            description=data.validated_data["description"], partner_client_ids=client_ids
        )
        return Response(self.OutputSerializer(draft).data)
