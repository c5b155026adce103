from django.contrib import admin

from tenants.admin_scoping import TenantScopedAdmin

from .models import AgentPresence, AgentSkill, AgentWork, Queue, RouteDecision, RouteFeedback, Skill, WorkItem


@admin.register(Skill)
class SkillAdmin(TenantScopedAdmin):
    list_display = ["name", "tenant"]
    list_filter = ["tenant"]
    search_fields = ["name"]


@admin.register(AgentSkill)
class AgentSkillAdmin(TenantScopedAdmin):
    list_display = ["membership", "skill", "level", "tenant"]
    list_filter = ["skill", "tenant"]


@admin.register(Queue)
class QueueAdmin(TenantScopedAdmin):
    list_display = ["name", "strategy", "ordering", "priority", "offer_timeout_seconds", "overflow_queue", "tenant"]
    list_filter = ["strategy", "tenant"]
    filter_horizontal = ["members"]


@admin.register(AgentPresence)
class AgentPresenceAdmin(TenantScopedAdmin):
    list_display = ["membership", "status", "status_since", "capacity", "ignored_offers", "tenant"]
    list_filter = ["status", "tenant"]
    readonly_fields = ["membership", "status_since", "last_offered_at", "last_work_ended_at", "ignored_offers"]

    def has_add_permission(self, request):
        return False  # a presence row appears when an agent first goes online


class ReadOnlyTenantAdmin(TenantScopedAdmin):
    """Routing records are the audit trail: visible, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WorkItem)
class WorkItemAdmin(ReadOnlyTenantAdmin):
    list_display = ["reference", "kind", "status", "routing_owner", "queue", "priority", "is_transfer", "created_at"]
    list_filter = ["status", "routing_owner", "is_transfer", "tenant"]


@admin.register(AgentWork)
class AgentWorkAdmin(ReadOnlyTenantAdmin):
    list_display = ["agent", "status", "engine", "offered_at", "answered_at", "closed_at", "ended_at"]
    list_filter = ["status", "engine", "tenant"]


@admin.register(RouteDecision)
class RouteDecisionAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "engine", "strategy", "outcome", "chosen_agent", "latency_ms"]
    list_filter = ["engine", "outcome", "tenant"]


@admin.register(RouteFeedback)
class RouteFeedbackAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "source", "resolved", "rating", "work_item"]
    list_filter = ["source", "resolved", "tenant"]
