"""Writes in the tenant space."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from ccp.core.errors import Conflict, Invalid

from .choices import Role
from .models import Membership, Tenant


def tenant_create(*, slug: str, name: str) -> Tenant:
    if Tenant.objects.filter(slug=slug).exists():
        raise Conflict(f"A tenant with slug '{slug}' already exists.", code="tenant_exists")
    return Tenant.objects.create(slug=slug, name=name)


@transaction.atomic
def member_create(
    *,
    tenant: Tenant,
    username: str,
    password: str,
    role: str = Role.AGENT,
    display_name: str = "",
    email: str = "",
) -> Membership:
    """Create a user who belongs to `tenant` in `role`. Tenant admins get admin-site access."""
    if role not in Role.values:
        raise Invalid(f"Unknown role '{role}'.", code="invalid_role")
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise Conflict(f"The username '{username}' is taken.", code="username_taken")
    user = User.objects.create_user(username=username, password=password, email=email)
    user.is_staff = role == Role.ADMIN
    user.save(update_fields=["is_staff"])
    return Membership.objects.create(user=user, tenant=tenant, role=role, display_name=display_name)


def membership_set_role(*, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise Invalid(f"Unknown role '{role}'.", code="invalid_role")
    membership.role = role
    membership.save(update_fields=["role"])
    user = membership.user
    if not user.is_superuser and user.is_staff != (role == Role.ADMIN):
        user.is_staff = role == Role.ADMIN
        user.save(update_fields=["is_staff"])
    return membership
