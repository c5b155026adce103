from django.contrib import admin, messages

from ccp.core.errors import DomainError
from tenants.admin_scoping import TenantScopedAdmin

from .models import (
    AgentPresence,
    AgentSkill,
    AgentWork,
    AiRoutingConfig,
    PromptTemplate,
    Queue,
    RouteDecision,
    RouteFeedback,
    Skill,
    TunedModel,
    WorkItem,
)
from .services import tuned_model_train


@admin.register(Skill)
class SkillAdmin(TenantScopedAdmin):
    list_display = ["name", "tenant"]
    list_filter = ["tenant"]
    search_fields = ["name"]


@admin.register(AgentSkill)
class AgentSkillAdmin(TenantScopedAdmin):
    list_display = ["membership", "skill", "level", "tenant"]
    list_filter = ["skill", "tenant"]
    autocomplete_fields = ["membership", "skill"]  # searched through their (tenant-scoped) admins


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
    list_display = ["created_at", "engine", "arm", "strategy", "outcome", "chosen_agent", "latency_ms"]
    list_filter = ["engine", "arm", "outcome", "tenant"]


@admin.register(RouteFeedback)
class RouteFeedbackAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "source", "resolved", "rating", "work_item"]
    list_filter = ["source", "resolved", "tenant"]


@admin.register(PromptTemplate)
class PromptTemplateAdmin(TenantScopedAdmin):
    """Tenant-editable; `PromptTemplate.clean` names unknown placeholders as a form error on `template`."""

    list_display = ["name", "purpose", "is_active", "updated_at", "tenant"]
    list_filter = ["purpose", "is_active", "tenant"]
    search_fields = ["name"]


@admin.register(AiRoutingConfig)
class AiRoutingConfigAdmin(TenantScopedAdmin):
    """The A/B switch per tenant, and "train now" (select the tenant's row, run the action)."""

    list_display = ["tenant", "enabled", "share", "min_probability", "use_provider", "updated_at"]
    list_editable = ["enabled", "share"]  # the A/B share is changed from the list, no form to open
    list_filter = ["enabled"]
    actions = ["train_now"]

    @admin.action(description="Train a tuned model now (from this tenant's routing history)")
    def train_now(self, request, queryset):
        for config in queryset.select_related("tenant"):
            try:
                result = tuned_model_train(tenant=config.tenant)
            except DomainError as exc:
                self.message_user(request, f"{config.tenant}: not trained — {exc.message}", messages.WARNING)
                continue
            self.message_user(request, f"{config.tenant}: {result.summary}", messages.SUCCESS)


@admin.register(TunedModel)
class TunedModelAdmin(TenantScopedAdmin):
    list_display = ["version", "status", "source", "rows", "accuracy", "training_seconds", "created_at", "tenant"]
    list_filter = ["status", "source", "tenant"]
    readonly_fields = ["version", "status", "source", "metrics", "rows", "training_seconds", "created_at", "notes"]
    exclude = ["data"]

    def has_add_permission(self, request):
        return False  # models come from training, not from a form

    @admin.display(description="held-out accuracy")
    def accuracy(self, obj):
        return (obj.metrics or {}).get("accuracy")
