"""Reads in the tenant space. Everything tenant-owned is fetched through its tenant."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, OuterRef, QuerySet

from ccp.core.errors import NotFound
from ccp.core.local_cache import LocalTtlCache

from .choices import Role
from .models import Channel, ContactCenter, Membership, PackageInstallation, Tenant

_memberships: LocalTtlCache[Membership] = LocalTtlCache()


def membership_for_user(*, user: AbstractBaseUser | AnonymousUser) -> Membership | None:
    """The user's membership, or None (anonymous users, operators without a tenant).

    Kept per process for `HOT_LOOKUP_CACHE_SECONDS` (every agent request asks): a membership, tenant
    or user saved in this process is seen at once (signals in `tenants.apps`), elsewhere within it.
    """
    if not getattr(user, "is_authenticated", False):
        return None
    return _memberships.get_or_load(
        user.pk,
        lambda: Membership.objects.select_related("tenant").filter(user_id=user.pk, tenant__is_active=True).first(),
    )


def forget_memberships(**_signal_kwargs) -> None:
    _memberships.clear()


def admin_tenant_for_user(*, user) -> Tenant | None:
    """The tenant a (non-superuser) tenant admin administers, or None."""
    membership = membership_for_user(user=user)
    if membership is not None and membership.role == Role.ADMIN:
        return membership.tenant
    return None


def partner_channels(*, partner) -> QuerySet[Channel]:
    """Channels of installations of this partner's packages — all a partner may see of tenants."""
    return (
        Channel.objects.filter(partner=partner, installation__isnull=False)
        .select_related("tenant", "installation__package")
        .order_by("tenant__slug", "channel_key")
    )


def partner_tenant_ids(*, partner) -> QuerySet:
    """Ids of the tenants that have one of this partner's packages installed (active or not), as a
    subquery: a partner's access to a tenant's records ends when the tenant uninstalls its packages."""
    return PackageInstallation.objects.filter(package__partner=partner).values("tenant_id")


def partner_agents(*, partner) -> QuerySet[Membership]:
    """The agents and supervisors a partner may see and set (FIG 11: through its contact centers).

    Members of a tenant that has one of the partner's packages installed, who serve a contact center
    of those installations (`ContactCenter.agents`) or no contact center in particular. An agent
    assigned only to other contact centers — other partners' channels — is not the partner's to see;
    tenant admins never are."""
    assigned = ContactCenter.agents.through.objects.filter(membership_id=OuterRef("pk"))
    theirs = assigned.filter(contactcenter__installations__package__partner=partner)
    return Membership.objects.filter(
        Exists(theirs) | ~Exists(assigned),
        role__in=[Role.AGENT, Role.SUPERVISOR],
        tenant_id__in=partner_tenant_ids(partner=partner),
    )


_partner_channels: LocalTtlCache[Channel] = LocalTtlCache()


def channel_for_partner(*, partner, channel_address_id: str) -> Channel:
    """Resolve `to` for a partner call (FIG 10/13 1326): another partner's channel is NotFound.

    Kept per process for `HOT_LOOKUP_CACHE_SECONDS` with its tenant, installation, package and channel
    definition (a five-table join on every interaction): a change saved in this process is seen at
    once (signals in `tenants.apps`), in other processes within that time. Treat it as read-only.
    """

    def load() -> Channel | None:
        return (
            partner_channels(partner=partner)
            .select_related("installation__package__channel_definition")
            .filter(channel_address_id=channel_address_id)
            .first()
        )

    channel = _partner_channels.get_or_load((partner.pk, channel_address_id), load)
    if channel is None:
        raise NotFound(
            f"'{channel_address_id}' is not a channel of an installation of your packages.",
            code="unknown_channel",
        )
    return channel


def forget_channels(**_signal_kwargs) -> None:
    """Drop the cached channels of partner calls (any channel, installation or package change)."""
    _partner_channels.clear()
