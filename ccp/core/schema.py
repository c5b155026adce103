"""drf-spectacular glue: names for nested Input/OutputSerializers and the partner OAuth2 scheme."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework.serializers import ListSerializer


class CcpAutoSchema(AutoSchema):
    """Components of nested serializers are named after their API class (PackageListCreateApi.InputSerializer
    → PackageListCreateInput), so the HackSoft per-API serializers do not collide in the schema."""

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        target = serializer.child if isinstance(serializer, ListSerializer) else serializer
        qualname = type(target).__qualname__
        if "." in qualname:
            outer = qualname.split(".")[0].removesuffix("Api")
            return f"{outer}{name}"
        return name


class PartnerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "ccp.packages.api.base.PartnerTokenAuthentication"
    name = "partnerOAuth2"

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "description": "Client credentials of a partner's connected app (POST /o/token/).",
            "flows": {"clientCredentials": {"tokenUrl": "/o/token/", "scopes": dict(settings.PARTNER_SCOPES)}},
        }

    def get_security_requirement(self, auto_schema):
        scopes = list(getattr(auto_schema.view, "required_scopes", []) or [])
        return {self.name: scopes}
