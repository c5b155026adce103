from rest_framework import serializers


class ChannelDefinitionOutput(serializers.Serializer):
    developer_name = serializers.CharField()
    label = serializers.CharField()
    channel_types = serializers.ListField(child=serializers.CharField())
    routing_owner = serializers.CharField()
    consent_owner = serializers.CharField()
    capabilities = serializers.DictField(child=serializers.BooleanField())
    connector_url = serializers.CharField(allow_blank=True)


class PackageOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    version = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    developer_name = serializers.CharField()
    channel_definition = ChannelDefinitionOutput()
    connected_app = serializers.SerializerMethodField()
    manifest = serializers.JSONField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    published_at = serializers.DateTimeField(allow_null=True)

    def get_connected_app(self, obj) -> str | None:
        return obj.connected_app.application.client_id if obj.connected_app_id else None


class ManifestInput(serializers.Serializer):
    """The manifest (docs/packages.md). Validated in full by the package service, not field by field here."""

    name = serializers.CharField()
    version = serializers.CharField()
    description = serializers.CharField(required=False)
    connected_app = serializers.CharField(required=False)
    metadata = serializers.JSONField(required=False)
    channel_definition = serializers.JSONField()
    event_types = serializers.JSONField(required=False)
    custom_objects = serializers.JSONField(required=False)
