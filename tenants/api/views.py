from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from ccp.packages.api.base import PartnerApi

from .. import selectors


class ChannelListApi(PartnerApi):
    """The channels of installations of the partner's packages, across tenants."""

    required_scopes = ["interactions"]

    class OutputSerializer(serializers.Serializer):
        channel_address_id = serializers.CharField()
        channel_key = serializers.CharField()
        name = serializers.CharField()
        type = serializers.CharField(source="channel_type")
        entity = serializers.CharField()
        is_active = serializers.BooleanField()
        tenant = serializers.CharField(source="tenant.slug")
        developer_name = serializers.CharField(source="installation.developer_name")
        package_version = serializers.CharField(source="installation.package.version")
        installation_status = serializers.CharField(source="installation.status")
        authorization_link = serializers.CharField(source="installation.authorization_link")

    @extend_schema(responses=OutputSerializer(many=True), summary="Channels of your installations", tags=["channels"])
    def get(self, request):
        channels = selectors.partner_channels(partner=self.partner)
        return Response(self.OutputSerializer(channels, many=True).data)
