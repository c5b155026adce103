import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from ccp.core.errors import DomainError

from . import services
from .admin_install import ChannelFormSet, InstallForm
from .admin_scoping import TenantScopedAdmin, request_tenant
from .channel_settings import validate_flow
from .models import (
    BusinessHours,
    Channel,
    ContactCenter,
    CustomObjectDefinition,
    CustomRecord,
    Membership,
    PackageInstallation,
    Tenant,
)


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


# --- the tenant's contact center: installations, contact centers, channels, custom objects -----------


class ChannelInline(admin.TabularInline):
    model = Channel
    extra = 0
    fields = ["channel_key", "name", "channel_type", "channel_address_id", "kind", "is_active"]
    readonly_fields = ["channel_key", "channel_type", "channel_address_id", "kind"]
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PackageInstallation)
class PackageInstallationAdmin(TenantScopedAdmin):
    list_display = ["developer_name", "version", "tenant", "status", "authorization_link", "installed_at"]
    list_filter = ["status", "tenant"]
    readonly_fields = [
        "tenant",
        "package",
        "developer_name",
        "contact_center",
        "authorization_link",
        "status",
        "installed_by",
        "installed_at",
        "updated_at",
    ]
    inlines = [ChannelInline]
    actions = ["deactivate", "activate", "upgrade", "uninstall", "force_uninstall"]

    @admin.display(description="version")
    def version(self, obj):
        return obj.package.version

    def get_urls(self):
        return [
            path(
                "install/",
                self.admin_site.admin_view(self.install_view),
                name="tenants_packageinstallation_install",
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:tenants_packageinstallation_install")

    def install_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        tenant = request_tenant(request)
        form = InstallForm(request.POST or None, tenant=tenant)
        formset = ChannelFormSet(request.POST or None, prefix="channels")
        if request.method == "POST" and form.is_valid() and formset.is_valid():
            installation = self._install(request, form, formset, tenant or form.cleaned_data["tenant"])
            if installation is not None:
                self.message_user(
                    request,
                    f"Installed {installation.developer_name} {installation.package.version}; "
                    f"authorization link {installation.authorization_link}.",
                    messages.SUCCESS,
                )
                return redirect("admin:tenants_packageinstallation_change", installation.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "formset": formset,
            "title": "Install a package",
            "media": self.media + form.media,
            "errors": helpers.AdminErrorList(form, []),
        }
        return TemplateResponse(request, "admin/tenants/packageinstallation/install.html", context)

    def _install(self, request, form, formset, tenant):
        rows = [f.cleaned_data for f in formset.forms if f.cleaned_data.get("channel_key")]
        specs = [
            services.ChannelSpec(
                channel_key=row["channel_key"],
                name=row.get("name") or "",
                channel_type=row["channel_type"],
                channel_address_id=row["channel_address_id"],
            )
            for row in rows
        ]
        existing = form.cleaned_data["contact_center_mode"] == "existing"
        try:
            return services.package_install(
                tenant=tenant,
                developer_name=form.cleaned_data["package"].developer_name,
                partner_identifier=form.cleaned_data["partner_identifier"],
                channels=specs,
                contact_center=form.cleaned_data["contact_center"] if existing else None,
                contact_center_name=form.cleaned_data.get("contact_center_name", ""),
                installed_by=request.user,
            )
        except DomainError as exc:
            self._show_errors(exc, form, formset, rows)
            return None

    @staticmethod
    def _show_errors(exc: DomainError, form, formset, rows) -> None:
        """Put each problem next to its field; anything else at the top of the form."""
        placed = False
        filled = [f for f in formset.forms if f.cleaned_data.get("channel_key")]
        for path_, problems in (exc.details or {}).items() if isinstance(exc.details, dict) else []:
            match = re.fullmatch(r"channels\[(\d+)\]\.(\w+)", path_)
            messages_ = problems if isinstance(problems, list) else [str(problems)]
            if match and int(match.group(1)) < len(filled):
                filled[int(match.group(1))].add_error(match.group(2), messages_)
                placed = True
            elif path_ in form.fields:
                form.add_error(path_, messages_)
                placed = True
        if not placed or exc.code not in {
            "invalid_channels",
            "channel_address_taken",
            "partner_identifier_mismatch",
        }:
            form.add_error(None, exc.message)

    @admin.action(description="Deactivate (refuse new interactions)")
    def deactivate(self, request, queryset):
        for installation in queryset:
            services.installation_set_status(installation=installation, active=False)
        self.message_user(request, f"Deactivated {queryset.count()} installation(s).")

    @admin.action(description="Activate")
    def activate(self, request, queryset):
        for installation in queryset:
            services.installation_set_status(installation=installation, active=True)
        self.message_user(request, f"Activated {queryset.count()} installation(s).")

    @admin.action(description="Upgrade to the newest published version")
    def upgrade(self, request, queryset):
        for installation in queryset:
            try:
                services.installation_upgrade(installation=installation)
                self.message_user(request, f"Upgraded {installation.developer_name}.", messages.SUCCESS)
            except DomainError as exc:
                self.message_user(request, f"{installation.developer_name}: {exc.message}", messages.ERROR)

    def _uninstall(self, request, queryset, force: bool):
        for installation in queryset:
            try:
                services.installation_uninstall(installation=installation, force=force)
                self.message_user(request, f"Uninstalled {installation.developer_name}.", messages.SUCCESS)
            except DomainError as exc:
                self.message_user(request, f"{installation.developer_name}: {exc.message}", messages.ERROR)

    @admin.action(description="Uninstall (refused while conversations are open)")
    def uninstall(self, request, queryset):
        self._uninstall(request, queryset, force=False)

    @admin.action(description="Force uninstall (closes open conversations)")
    def force_uninstall(self, request, queryset):
        self._uninstall(request, queryset, force=True)

    def has_delete_permission(self, request, obj=None):
        return False  # uninstall through the actions, which check for open conversations


@admin.register(ContactCenter)
class ContactCenterAdmin(TenantScopedAdmin):
    list_display = ["name", "tenant", "partner", "connector_url"]
    list_filter = ["tenant"]
    filter_horizontal = ["agents"]  # who serves it: what its partner may see and set (docs/partner-api.md)
    inlines = [ChannelInline]

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else ["partner", "connected_app"]


class StandardChannelForm(forms.ModelForm):
    """A standard channel; `admin_tenant` is the tenant admin's tenant (None: an operator picks it)."""

    admin_tenant = None

    def clean(self):
        data = super().clean()
        tenant = self.admin_tenant or data.get("tenant")
        if tenant is not None and data.get("channel_key") and data.get("channel_address_id"):
            spec = services.ChannelSpec(
                channel_key=data["channel_key"],
                channel_address_id=data["channel_address_id"],
                channel_type=data.get("channel_type") or "messaging",
            )
            for name, sentences in services.channel_add_problems(tenant=tenant, spec=spec).items():
                self.add_error(name if name in self.fields else None, sentences)
        return data

    class Meta:
        model = Channel
        fields = [
            "tenant",
            "contact_center",
            "channel_key",
            "name",
            "channel_type",
            "channel_address_id",
            "is_active",
        ]


class ChannelSettingsForm(forms.ModelForm):
    """Refuses channel settings whose flow could not run, naming the field."""

    class Meta:
        model = Channel
        fields = ["name", "is_active", "business_hours", "settings"]

    def clean_settings(self):
        value = self.cleaned_data.get("settings") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Settings must be a JSON object.")
        try:
            validate_flow(value.get("flow") or {})
        except DomainError as exc:
            raise forms.ValidationError(
                [f"flow.{field}: {'; '.join(msgs)}" for field, msgs in (exc.details or {}).items()] or exc.message
            ) from None
        acw = value.get("acw_seconds", 0)
        if not isinstance(acw, int) or isinstance(acw, bool) or not 0 <= acw <= 3600:
            raise forms.ValidationError("acw_seconds must be a whole number of seconds from 0 to 3600.")
        return value


@admin.register(Channel)
class ChannelAdmin(TenantScopedAdmin):
    list_display = [
        "channel_key",
        "name",
        "channel_type",
        "kind",
        "channel_address_id",
        "tenant",
        "is_active",
    ]
    list_filter = ["kind", "channel_type", "tenant"]
    search_fields = ["channel_key", "channel_address_id", "name"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = StandardChannelForm if obj is None else ChannelSettingsForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and not request.user.is_superuser:
            form.admin_tenant = request_tenant(request)  # a class made for this request by get_form
        return form

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [
            "tenant",
            "contact_center",
            "installation",
            "kind",
            "channel_key",
            "channel_type",
            "channel_address_id",
        ]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        tenant = obj.tenant if request.user.is_superuser else request_tenant(request)
        spec = services.ChannelSpec(
            channel_key=obj.channel_key,
            name=obj.name,
            channel_type=obj.channel_type,
            channel_address_id=obj.channel_address_id,
        )
        channel = services.channel_add(tenant=tenant, contact_center=obj.contact_center, spec=spec)
        obj.pk, obj.tenant, obj.kind = channel.pk, channel.tenant, channel.kind
        obj._state.adding = False
        return None


@admin.register(CustomObjectDefinition)
class CustomObjectDefinitionAdmin(TenantScopedAdmin):
    list_display = ["api_name", "label", "tenant", "installation", "updated_at"]
    list_filter = ["tenant"]
    readonly_fields = ["tenant", "installation", "api_name", "fields", "required"]

    def has_add_permission(self, request):
        return False  # definitions come from installed packages


class CustomRecordForm(forms.ModelForm):
    class Meta:
        model = CustomRecord
        fields = ["tenant", "definition", "data"]

    def clean(self):
        data = super().clean()
        definition = data.get("definition")
        if definition is not None and "data" in data:
            problems = services.custom_record_problems(definition=definition, data=data["data"])
            for where, sentences in problems.items():
                self.add_error("data", [f"{where}: {s}" for s in sentences])
        return data


@admin.register(CustomRecord)
class CustomRecordAdmin(TenantScopedAdmin):
    form = CustomRecordForm
    list_display = ["id", "definition", "tenant", "created_at", "updated_at"]
    list_filter = ["definition", "tenant"]


admin.site.site_header = "ccp administration"
admin.site.site_title = "ccp"
admin.site.index_title = "Contact-center platform"
from . import admin_audit  # noqa: E402,F401  (the audit log's admin)


class HolidayInline(admin.TabularInline):
    model = BusinessHours.holidays.rel.related_model
    extra = 1


@admin.register(BusinessHours)
class BusinessHoursAdmin(TenantScopedAdmin):
    """Business-hours calendars: attached to channels (closed outside them) and queues (SLA clocks)."""

    list_display = ["name", "time_zone", "tenant"]
    list_filter = ["tenant"]
    inlines = [HolidayInline]
