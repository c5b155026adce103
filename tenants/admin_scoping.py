"""Django admin for tenant admins: every queryset, form and foreign-key choice is scoped to their tenant.

Operators (superusers) see everything. A tenant admin (staff user with an admin Membership) sees only
models whose admin uses `TenantScopedAdmin`, and within them only rows of their own tenant. Agents
and supervisors are not staff and cannot log in to the admin at all.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, PermissionDenied, ValidationError

from ccp.audit.admin import AuditedAdmin

from .models import Tenant
from .selectors import admin_tenant_for_user


def request_tenant(request) -> Tenant | None:
    """The tenant a non-superuser admin request is scoped to (cached on the request)."""
    if not hasattr(request, "_ccp_admin_tenant"):
        request._ccp_admin_tenant = None if request.user.is_superuser else admin_tenant_for_user(user=request.user)
    return request._ccp_admin_tenant


def scope_queryset_to_tenant(queryset, tenant: Tenant):
    """Filter any queryset of a tenant-owned model (or Tenant, or User) down to one tenant."""
    model = queryset.model
    if model is Tenant:
        return queryset.filter(pk=tenant.pk)
    if model is get_user_model():
        return queryset.filter(membership__tenant=tenant)
    path = getattr(model, "tenant_path", "tenant")
    try:
        model._meta.get_field(path.split("__")[0])
    except FieldDoesNotExist:
        return queryset  # not tenant-owned (e.g. a partner's published package): readable by all
    return queryset.filter(**{path: tenant})


class TenantScopedAdmin(AuditedAdmin, admin.ModelAdmin):
    """ModelAdmin base for tenant-owned models. `tenant_field` is the lookup path to the Tenant."""

    tenant_field = "tenant"

    # --- who may use it ---------------------------------------------------------------------
    def _is_tenant_admin(self, request) -> bool:
        return request.user.is_active and request.user.is_staff and request_tenant(request) is not None

    def has_module_permission(self, request):
        return request.user.is_superuser or self._is_tenant_admin(request)

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or (self._is_tenant_admin(request) and self._owns(request, obj))

    def has_change_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    def has_add_permission(self, request):
        return request.user.is_superuser or self._is_tenant_admin(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    def _owns(self, request, obj) -> bool:
        if obj is None or request.user.is_superuser:
            return True
        tenant = request_tenant(request)
        return self.get_queryset(request).filter(pk=obj.pk).exists() if tenant else False

    # --- what they see ----------------------------------------------------------------------
    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        tenant = request_tenant(request)
        if tenant is None:
            return queryset.none()
        return queryset.filter(**{self.tenant_field: tenant}) if self.tenant_field else queryset

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        tenant = None if request.user.is_superuser else request_tenant(request)
        if tenant is not None:
            base = kwargs.get("queryset") or db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = scope_queryset_to_tenant(base, tenant)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        tenant = None if request.user.is_superuser else request_tenant(request)
        if tenant is not None:
            base = kwargs.get("queryset") or db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = scope_queryset_to_tenant(base, tenant)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser and self.tenant_field == "tenant":
            exclude.append("tenant")
        return exclude

    def get_form(self, request, obj=None, change=False, **kwargs):
        """A tenant admin's form validates unique constraints *with* their tenant.

        The tenant is not a field of their form, so Django would skip every constraint naming it and
        a duplicate (a second Skill "billing", a second AI config) would reach the database as an
        IntegrityError (a 500). The form sets the tenant before validating, and reports what the
        tenant field would have carried as a form-wide error.
        """
        form_class = super().get_form(request, obj, change=change, **kwargs)
        tenant = None if request.user.is_superuser else request_tenant(request)
        if tenant is None or self.tenant_field != "tenant":
            return form_class

        class TenantBoundForm(form_class):
            def _get_validation_exclusions(self):
                exclusions = super()._get_validation_exclusions()
                exclusions.discard("tenant")
                return exclusions

            def _post_clean(self):
                self.instance.tenant = tenant
                super()._post_clean()

            def _update_errors(self, errors):
                if hasattr(errors, "error_dict") and "tenant" in errors.error_dict and "tenant" not in self.fields:
                    error_dict = dict(errors.error_dict)
                    moved = error_dict.pop("tenant")
                    error_dict[NON_FIELD_ERRORS] = [*error_dict.get(NON_FIELD_ERRORS, []), *moved]
                    errors = ValidationError(error_dict)
                super()._update_errors(errors)

        TenantBoundForm.__name__ = form_class.__name__
        return TenantBoundForm

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if not request.user.is_superuser:
            filters = [self._scoped_filter(f) for f in filters if f != self.tenant_field]
        return filters

    def _scoped_filter(self, list_filter):
        """A relation filter lists every row of the related model (another tenant's skills, custom
        objects…); for a tenant admin it lists only those their own (scoped) rows point at."""
        name = list_filter[0] if isinstance(list_filter, (list, tuple)) else list_filter
        if not isinstance(name, str):
            return list_filter  # a SimpleListFilter class: its own lookups decide
        try:
            field = get_fields_from_path(self.model, name)[-1]
        except (FieldDoesNotExist, NotRelationField):
            return list_filter
        return (name, admin.RelatedOnlyFieldListFilter) if field.is_relation else list_filter

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and self.tenant_field == "tenant":
            tenant = request_tenant(request)
            if tenant is None:
                raise PermissionDenied
            obj.tenant = tenant
        super().save_model(request, obj, form, change)
