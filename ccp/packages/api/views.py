from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from .base import PartnerApi


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
