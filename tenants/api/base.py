"""The base of session-authenticated endpoints for a tenant's people (agents, supervisors, admins)."""

from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission

from ccp.core.api import BaseApi

from ..choices import Role
from ..selectors import membership_for_user


class IsTenantMember(BasePermission):
    """Logged in and a member of an active tenant; sets `view.membership` and `view.tenant`."""

    roles: tuple[str, ...] = ()

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        membership = membership_for_user(user=request.user)
        if membership is None:
            raise exceptions.PermissionDenied("Your account is not a member of any tenant.", code="not_a_member")
        roles = getattr(view, "allowed_roles", ())
        if roles and membership.role not in roles:
            code, message = getattr(view, "role_refusal", MemberApi.role_refusal)
            raise exceptions.PermissionDenied(message, code=code)
        view.membership = membership
        view.tenant = membership.tenant
        return True


class MemberApi(BaseApi):
    """Session login; `allowed_roles` narrows who may call it (empty: any member)."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsTenantMember]
    allowed_roles: tuple[str, ...] = ()
    # (code, sentence) of the 403 for a member whose role is not in allowed_roles
    role_refusal: tuple[str, str] = ("supervisor_only", "This needs a supervisor or tenant admin.")


class SupervisorApi(MemberApi):
    allowed_roles = (Role.SUPERVISOR, Role.ADMIN)
