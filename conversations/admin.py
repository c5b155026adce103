"""Canned responses in the Django admin (tenant admins: their tenant's, shared or personal); internal
notes readable there, never edited (they are a conversation's record)."""

from django.contrib import admin

from tenants.admin_scoping import TenantScopedAdmin

from .models import CannedResponse, Note, SlaPolicy


@admin.register(CannedResponse)
class CannedResponseAdmin(TenantScopedAdmin):
    list_display = ["shortcut", "title", "owner", "updated_at", "tenant"]
    list_filter = [("owner", admin.EmptyFieldListFilter), "tenant"]
    search_fields = ["shortcut", "title", "text"]
    fields = ["tenant", "shortcut", "title", "text", "owner"]

    def get_fields(self, request, obj=None):
        return [f for f in self.fields if request.user.is_superuser or f != "tenant"]


@admin.register(Note)
class NoteAdmin(TenantScopedAdmin):
    list_display = ["created_at", "conversation", "author_name", "author_role", "whisper", "tenant"]
    list_filter = ["whisper", "author_role", "tenant"]
    readonly_fields = [
        "conversation",
        "author",
        "author_name",
        "author_role",
        "text",
        "whisper",
        "after_seq",
        "created_at",
    ]
    exclude = ["tenant"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SlaPolicy)
class SlaPolicyAdmin(TenantScopedAdmin):
    """SLA targets per queue or channel, in business time (docs/reports.md, "SLA")."""

    list_display = [
        "name",
        "queue",
        "channel",
        "first_response_seconds",
        "next_response_seconds",
        "resolution_seconds",
        "business_hours",
        "tenant",
    ]
    list_filter = ["tenant"]
    search_fields = ["name"]
    fields = [
        "tenant",
        "name",
        "queue",
        "channel",
        "first_response_seconds",
        "next_response_seconds",
        "resolution_seconds",
        "business_hours",
    ]

    def get_fields(self, request, obj=None):
        return [f for f in self.fields if request.user.is_superuser or f != "tenant"]
