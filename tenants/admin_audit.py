"""The audit log in the Django admin: read-only, filterable, exportable as CSV; a tenant admin sees
only their tenant's entries (operators see all)."""

from __future__ import annotations

import csv

from django.contrib import admin
from django.http import HttpResponse
from django.utils import timezone

from ccp.audit.models import AuditEntry

from .admin_scoping import TenantScopedAdmin, request_tenant

CSV_COLUMNS = [
    "created_at",
    "tenant_slug",
    "actor_type",
    "actor_id",
    "actor_repr",
    "actor_role",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "source_ip",
]


def audit_csv(entries) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for entry in entries.iterator():
        row = []
        for column in CSV_COLUMNS:
            value = getattr(entry, column)
            text = "" if value is None else str(value)
            # a cell starting with = + - @ is a formula to a spreadsheet: neutralise it
            row.append("'" + text if text[:1] in ("=", "+", "-", "@") else text)
        writer.writerow(row)
    return response


@admin.register(AuditEntry)
class AuditEntryAdmin(TenantScopedAdmin):
    tenant_field = None  # scoped by tenant_id below (the log holds no foreign keys)
    list_display = ["created_at", "actor_repr", "actor_role", "action", "object_type", "object_repr", "source_ip"]
    list_filter = ["action", "actor_type", "actor_role", "object_type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["actor_repr", "object_repr", "object_id", "action"]
    date_hierarchy = "created_at"
    actions = ["export_csv"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        tenant = request_tenant(request)
        return queryset.filter(tenant_id=tenant.pk) if tenant else queryset.none()

    def get_list_filter(self, request):
        filters = list(self.list_filter)
        return [*filters, "tenant_slug"] if request.user.is_superuser else filters

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Export the selected entries as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        return audit_csv(queryset.order_by("created_at", "id"))

    def changelist_view(self, request, extra_context=None):
        if request.GET.get("format") == "csv":  # the whole filtered list, not just a selection
            query = request.GET.copy()
            del query["format"]
            request.GET = query
            cl = self.get_changelist_instance(request)
            return audit_csv(cl.get_queryset(request).order_by("created_at", "id"))
        return super().changelist_view(request, extra_context)
