"""Read-only lookups for the agent workspace's side panels: channels (and their connectors), contacts
with their past conversations, and the agent's own recent work. Tenant-scoped through `AgentApi`."""

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from routing import selectors as routing_selectors
from tenants import selectors as tenant_selectors
from tenants.choices import InstallationStatus

from .. import selectors
from .agent import AgentApi

CONTACTS_LIMIT = 25
PAST_CONVERSATIONS_LIMIT = 10
HISTORY_LIMIT = 20


class ChannelDirectoryApi(AgentApi):
    """The tenant's channels and their types; `connector_url` names the partner's connector page, if any."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField()
        name = serializers.CharField()
        channel_address_id = serializers.CharField()
        channel_type = serializers.CharField()
        kind = serializers.CharField()
        is_active = serializers.BooleanField()
        package = serializers.CharField(allow_blank=True)
        connector_url = serializers.CharField(allow_blank=True)
        capabilities = serializers.DictField(
            child=serializers.BooleanField(),
            help_text="The package's channel capabilities; `typing: false` / `receipts: false` hide those indicators.",
        )

    @extend_schema(responses=OutputSerializer(many=True), summary="The tenant's channels", tags=["agent"])
    def get(self, request):
        rows = []
        for channel in tenant_selectors.tenant_channels(tenant=self.tenant):
            package = channel.installation.package if channel.installation_id else None
            definition = getattr(package, "channel_definition", None) if package else None
            active = channel.is_active and (
                channel.installation is None or channel.installation.status == InstallationStatus.ACTIVE
            )
            rows.append(
                {
                    "id": str(channel.id),
                    "name": channel.name,
                    "channel_address_id": channel.channel_address_id,
                    "channel_type": channel.channel_type,
                    "kind": channel.kind,
                    "is_active": active,
                    "package": package.name if package else "",
                    "connector_url": definition.connector_url if definition else "",
                    "capabilities": definition.capabilities if definition else {},
                }
            )
        return Response(self.OutputSerializer(rows, many=True).data)


class ContactDirectoryApi(AgentApi):
    """Contacts of the tenant (newest first, or matching `q` by name or address) with past conversations."""

    class OutputSerializer(serializers.Serializer):
        class Past(serializers.Serializer):
            id = serializers.CharField()
            status = serializers.CharField()
            channel_name = serializers.CharField()
            end_user = serializers.CharField()
            created_at = serializers.DateTimeField()
            closed_at = serializers.DateTimeField(allow_null=True)

        id = serializers.CharField()
        name = serializers.CharField(allow_blank=True)
        addresses = serializers.ListField(child=serializers.CharField())
        conversations = Past(many=True)

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="part of a name or address")],
        responses=OutputSerializer(many=True),
        summary="Contacts and their past conversations",
        tags=["agent"],
    )
    def get(self, request):
        q = (request.query_params.get("q") or "").strip()[:100]
        contacts = selectors.contact_directory(tenant=self.tenant, q=q, limit=CONTACTS_LIMIT)
        rows = [
            {
                "id": str(c.id),
                "name": c.name,
                "addresses": sorted({a.address for a in c.addresses.all()}),
                "conversations": [
                    {
                        "id": str(conv.id),
                        "status": conv.status,
                        "channel_name": conv.channel.name if conv.channel else conv.channel_address_id,
                        "end_user": conv.end_user_address,
                        "created_at": conv.created_at,
                        "closed_at": conv.closed_at,
                    }
                    for conv in list(c.conversations.all())[:PAST_CONVERSATIONS_LIMIT]
                ],
            }
            for c in contacts
        ]
        return Response(self.OutputSerializer(rows, many=True).data)


class WorkHistoryApi(AgentApi):
    """The agent's own finished work, newest first (the work queue's 'completed' list)."""

    class OutputSerializer(serializers.Serializer):
        work_id = serializers.CharField()
        status = serializers.CharField()
        conversation_id = serializers.CharField(allow_blank=True)
        contact_name = serializers.CharField(allow_blank=True)
        channel_name = serializers.CharField(allow_blank=True)
        offered_at = serializers.DateTimeField()
        ended_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(responses=OutputSerializer(many=True), summary="Your finished work", tags=["agent"])
    def get(self, request):
        works = routing_selectors.finished_work_for_agent(
            tenant=self.tenant, membership=self.membership, limit=HISTORY_LIMIT
        )
        rows = [
            {
                "work_id": str(w.id),
                "status": w.status,
                "conversation_id": w.work_item.attributes.get("conversation_id", ""),
                "contact_name": w.work_item.attributes.get("contact_name", ""),
                "channel_name": w.work_item.attributes.get("channel_name", ""),
                "offered_at": w.offered_at,
                "ended_at": w.ended_at or w.closed_at or w.answered_at,
            }
            for w in works
        ]
        return Response(self.OutputSerializer(rows, many=True).data)


urlpatterns = [
    path("channels/", ChannelDirectoryApi.as_view()),
    path("contacts/", ContactDirectoryApi.as_view()),
    path("history/", WorkHistoryApi.as_view()),
]
