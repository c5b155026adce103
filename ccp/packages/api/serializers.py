import copy

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from ..manifest import MANIFEST_SCHEMA


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


class ManifestInputSchema(OpenApiSerializerExtension):
    """The OpenAPI schema of a manifest is the JSON schema the package service validates it with, so
    the two cannot disagree; a PATCH (partial) makes every top-level field optional."""

    target_class = ManifestInput

    def map_serializer(self, auto_schema, direction):
        schema = copy.deepcopy(MANIFEST_SCHEMA)
        schema["description"] = (
            "A package manifest (docs/partner-api.md). Beyond this structure, the service checks that event-type "
            "and custom-object `fields` are valid JSON schemas, names are unique, and the connector URL is https."
        )
        if self.target.partial:
            schema.pop("required")
        return schema
