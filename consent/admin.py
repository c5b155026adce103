"""Consent in the admin: rows are read-only; tenant admins opt addresses in or out with actions that go
through consent_update, so every change is owner-checked, recorded in history and published."""

from django.contrib import admin, messages
from django.db import transaction

from ccp.core.errors import DomainError
from tenants.admin_scoping import TenantScopedAdmin

from . import services
from .models import ConsentChange, ConsentRecord


def _set(status: str):
    def action(modeladmin, request, queryset):
        changed = 0
        for record in queryset.select_related("channel__installation__package__channel_definition", "channel__tenant"):
            try:
                with transaction.atomic():
                    services.consent_update(
                        channel=record.channel,
                        address=record.address,
                        status=status,
                        source="agent",
                        actor=f"admin:{request.user.pk}",
                        as_owner="platform",
                    )
                changed += 1
            except DomainError as exc:
                modeladmin.message_user(request, f"{record.address}: {exc.message}", messages.ERROR)
        if changed:
            modeladmin.message_user(request, f"{changed} consent record(s) set to {status}.", messages.SUCCESS)

    action.__name__ = f"set_{status}"
    action.short_description = f"Set consent to {status} (platform-owned channels)"
    return action


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
    actions = [_set("opt_in"), _set("opt_out")]


@admin.register(ConsentChange)
class ConsentChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "address", "channel_address_id", "old_status", "new_status", "source", "actor"]
    list_filter = ["source", "new_status"]
    search_fields = ["address", "channel_address_id"]
