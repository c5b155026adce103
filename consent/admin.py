"""Consent in the admin: read-only. Changes go through the agent API / keywords so history is kept."""

from django.contrib import admin

from tenants.admin_scoping import TenantScopedAdmin

from .models import ConsentChange, ConsentRecord


class ConsentChangeInline(admin.TabularInline):
    model = ConsentChange
    extra = 0
    can_delete = False
    fields = ["created_at", "old_status", "new_status", "pending_opt_in", "source", "actor"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(TenantScopedAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdmin):
    list_display = ["address", "channel", "status", "pending_opt_in", "owner", "source", "updated_at"]
    list_filter = ["status", "owner", "source"]
    search_fields = ["address", "channel__channel_address_id"]
    inlines = [ConsentChangeInline]


@admin.register(ConsentChange)
class ConsentChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "address", "channel_address_id", "old_status", "new_status", "source", "actor"]
    list_filter = ["source", "new_status"]
    search_fields = ["address", "channel_address_id"]
