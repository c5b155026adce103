"""Public documentation of the event surface: the payload schemas and the AsyncAPI document.

Public like the OpenAPI schema (`/api/v1/schema/`): they describe the contract, not anyone's data.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from ccp.core.api import BaseApi

from ..asyncapi import asyncapi_document
from ..payloads import event_schemas


class EventSchemasApi(BaseApi):
    """Per standard event type: its description and the JSON Schema of its `data`."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        schemas = serializers.DictField(help_text="event type -> {description, data: JSON Schema (2020-12)}")

    @extend_schema(summary="Event payload schemas", tags=["events"], auth=[], responses=OutputSerializer)
    def get(self, request):
        return Response({"schemas": event_schemas()})


class AsyncApiDocumentApi(BaseApi):
    """The AsyncAPI 3 document of webhooks and the stream."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="AsyncAPI 3 document of the events", tags=["events"], auth=[], responses={200: dict})
    def get(self, request):
        return Response(asyncapi_document(host=request.get_host(), protocol=request.scheme))
