from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password

from ccp.core.errors import DomainError

from . import services
from .admin_scoping import TenantScopedAdmin, request_tenant
from .choices import Role
from .models import Membership, Tenant


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    tenant_field = "pk"
    list_display = ["slug", "name", "is_active", "created_at"]
    search_fields = ["slug", "name"]

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        tenant = request_tenant(request)
        return queryset.filter(pk=tenant.pk) if tenant else queryset.none()

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else ["slug", "is_active"]

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class MemberCreationForm(forms.ModelForm):
    """Adds a person to a tenant: creates the login and the membership together."""

    username = forms.CharField(max_length=150)
    password = forms.CharField(widget=forms.PasswordInput, help_text="At least 8 characters.")
    email = forms.EmailField(required=False)

    class Meta:
        model = Membership
        fields = ["tenant", "role", "display_name"]

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username=username).exists():
            raise forms.ValidationError("This username is taken.")
        return username

    def clean_password(self):
        password = self.cleaned_data["password"]
        validate_password(password)
        return password


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "display_name", "role", "tenant", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "display_name"]
    readonly_fields = ["user"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = MemberCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ["user"] if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            fields = ["tenant", "username", "password", "email", "role", "display_name"]
        else:
            fields = ["tenant", "user", "role", "display_name"]
        return [f for f in fields if request.user.is_superuser or f != "tenant"]

    def save_model(self, request, obj, form, change):
        tenant = obj.tenant if request.user.is_superuser else request_tenant(request)
        try:
            if change:
                services.membership_set_role(membership=obj, role=obj.role)
                obj.save(update_fields=["display_name"])
                return
            member = services.member_create(
                tenant=tenant,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                email=form.cleaned_data.get("email", ""),
                role=form.cleaned_data["role"],
                display_name=form.cleaned_data.get("display_name", ""),
            )
        except DomainError as exc:
            messages.error(request, exc.message)
            raise
        obj.pk = member.pk
        obj.user = member.user
        obj.tenant = member.tenant
        obj._state.adding = False


admin.site.site_header = "ccp administration"
admin.site.site_title = "ccp"
admin.site.index_title = "Contact-center platform"

__all__ = ["MembershipAdmin", "Role", "TenantAdmin"]
