from django import forms
from django.conf import settings
from django.contrib import admin, messages

from ccp.audit.admin import AuditedAdmin

from . import services
from .models import ConnectedApp, Partner


class ConnectedAppInline(admin.TabularInline):
    model = ConnectedApp
    extra = 0
    fields = ["name", "scopes", "client_id", "contact_center_scope", "created_at"]
    readonly_fields = ["name", "scopes", "client_id", "contact_center_scope", "created_at"]
    can_delete = False
    show_change_link = True

    def client_id(self, obj):
        return obj.application.client_id

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Partner)
class PartnerAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "partner_identifier", "type", "created_at"]
    search_fields = ["name", "partner_identifier"]
    list_filter = ["type"]
    inlines = [ConnectedAppInline]


class ConnectedAppForm(forms.ModelForm):
    scope_choices = forms.MultipleChoiceField(
        label="Scopes",
        choices=[(k, f"{k} — {v}") for k, v in settings.PARTNER_SCOPES.items()],
        widget=forms.CheckboxSelectMultiple,
    )
    rotate_secret = forms.BooleanField(
        required=False, help_text="Issue a new client secret now; the old one stops working at once."
    )

    class Meta:
        model = ConnectedApp
        fields = ["partner", "name", "contact_center_scope", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            self.fields["scope_choices"].initial = self.instance.scope_list
            self.fields["partner"].disabled = True
        else:
            self.fields["scope_choices"].initial = list(settings.PARTNER_SCOPES)
            del self.fields["rotate_secret"]


@admin.register(ConnectedApp)
class ConnectedAppAdmin(AuditedAdmin, admin.ModelAdmin):
    form = ConnectedAppForm
    list_display = ["name", "partner", "scopes", "is_active", "client_id", "created_at"]
    list_filter = ["partner", "is_active"]
    readonly_fields = ["client_id"]

    def client_id(self, obj):
        return "—" if obj is None or obj._state.adding else obj.application.client_id

    def save_model(self, request, obj, form, change):
        scopes = form.cleaned_data["scope_choices"]
        if not change:
            app, secret = services.connected_app_create(partner=obj.partner, name=obj.name, scopes=scopes)
            obj.pk = app.pk
            obj.application = app.application
            obj._state.adding = False
            ConnectedApp.objects.filter(pk=app.pk).update(
                contact_center_scope=obj.contact_center_scope, is_active=obj.is_active
            )
        else:
            obj.save()
            services.connected_app_set_scopes(connected_app=obj, scopes=scopes)
            if "is_active" in form.changed_data:  # through the service: deactivating revokes the tokens
                services.connected_app_set_active(connected_app=obj, active=obj.is_active)
            secret = None
            if form.cleaned_data.get("rotate_secret"):
                secret = services.connected_app_rotate_secret(connected_app=obj)
        if secret:
            messages.warning(
                request,
                f"client_id {obj.application.client_id} — client_secret {secret} "
                "(shown once: it is stored hashed; copy it now).",
            )
