"""Operator views of the event bus (superusers): read-only, for answering "did the partner get it?"."""

from django.contrib import admin

from .models import Delivery, DeliveryAttempt, Event, Subscription


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["replay_id", "type", "tenant", "partner", "occurred_at", "relayed_at"]
    list_filter = ["type"]
    search_fields = ["type", "=replay_id"]
    list_select_related = ["tenant", "partner"]


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["partner", "url", "event_types", "is_active", "created_at"]
    exclude = ["secret"]  # signs deliveries; shown to the partner once, never again
    list_select_related = ["partner"]


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["attempted_at", "status_code", "error", "latency_ms", "succeeded"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["event", "subscription", "status", "attempt_count", "next_attempt_at", "delivered_at"]
    list_filter = ["status"]
    list_select_related = ["event", "subscription__partner"]
    inlines = [AttemptInline]
