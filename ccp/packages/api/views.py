from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from .. import selectors, services
from .base import PartnerApi
from .serializers import ManifestInput, PackageOutput


class PartnerMeApi(PartnerApi):
    """Who the token belongs to: a cheap call for a partner to check its credentials."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        partner_identifier = serializers.CharField()
        name = serializers.CharField()
        type = serializers.CharField()
        connected_app = serializers.CharField()
        scopes = serializers.ListField(child=serializers.CharField())

    @extend_schema(responses=OutputSerializer, summary="The calling partner", tags=["partner"])
    def get(self, request):
        partner = self.partner
        data = {
            "id": partner.id,
            "partner_identifier": partner.partner_identifier,
            "name": partner.name,
            "type": partner.type,
            "connected_app": self.connected_app.name,
            "scopes": request.auth.scope.split(),
        }
        return Response(self.OutputSerializer(data).data)


class PackageListCreateApi(PartnerApi):
    required_scopes = ["packages"]

    @extend_schema(responses=PackageOutput(many=True), summary="The partner's packages", tags=["packages"])
    def get(self, request):
        packages = selectors.package_list(partner=self.partner)
        return Response(PackageOutput(packages, many=True).data)

    @extend_schema(
        request=ManifestInput,
        responses={201: PackageOutput},
        summary="Create a draft package version from a manifest",
        tags=["packages"],
    )
    def post(self, request):
        package = services.package_create(partner=self.partner, manifest=request.data)
        return Response(PackageOutput(package).data, status=201)


class PackageDetailApi(PartnerApi):
    required_scopes = ["packages"]
    error_statuses = {"patch": (409,), "delete": (409,)}  # package_published, version_exists

    @extend_schema(responses=PackageOutput, summary="A package version", tags=["packages"])
    def get(self, request, package_id):
        return Response(PackageOutput(selectors.access_package(partner=self.partner, package_id=package_id)).data)

    @extend_schema(
        request=ManifestInput(partial=True),
        responses=PackageOutput,
        summary="Edit a draft (top-level manifest fields replace the draft's)",
        tags=["packages"],
    )
    def patch(self, request, package_id):
        package = selectors.access_package(partner=self.partner, package_id=package_id)
        package = services.package_update(package=package, changes=request.data)
        return Response(PackageOutput(package).data)

    @extend_schema(responses={204: None}, summary="Delete a draft", tags=["packages"])
    def delete(self, request, package_id):
        package = selectors.access_package(partner=self.partner, package_id=package_id)
        services.package_delete(package=package)
        return Response(status=204)


class PackagePublishApi(PartnerApi):
    required_scopes = ["packages"]

    @extend_schema(request=None, responses=PackageOutput, summary="Validate and publish a draft", tags=["packages"])
    def post(self, request, package_id):
        package = selectors.access_package(partner=self.partner, package_id=package_id)
        return Response(PackageOutput(services.package_publish(package=package)).data)


# POST /api/v1/packages/draft/: a generative model drafts a package manifest from a description
# (0115). Nothing is created: the partner reviews the draft and its problems, then creates the
# package through POST /api/v1/packages/ as usual.
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
        draft = services.package_draft(description=data.validated_data["description"], partner_client_ids=client_ids)
        return Response(self.OutputSerializer(draft).data)
