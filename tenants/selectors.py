"""Reads in the tenant space. Everything tenant-owned is fetched through its tenant."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from ccp.core.errors import NotFound
from ccp.core.local_cache import LocalTtlCache

from .choices import Role
from .models import Channel, Membership, Tenant

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


def connector_origins(*, tenant: Tenant) -> list[str]:
    """The origins (scheme://host[:port]) of the connector pages of the tenant's installed packages:
    what the workspace may frame (its Content-Security-Policy frame-src)."""
    urls = (
        Channel.objects.filter(tenant=tenant, installation__isnull=False)
        .exclude(installation__package__channel_definition__connector_url="")
        .values_list("installation__package__channel_definition__connector_url", flat=True)
        .distinct()
    )
    origins = set()
    for url in urls:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            continue
        if parts.scheme in ("http", "https") and parts.hostname:
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            origins.add(f"{parts.scheme}://{host}" + (f":{port}" if port else ""))
    return sorted(origins)


def partner_channels(*, partner) -> QuerySet[Channel]:
    """Channels of installations of this partner's packages — all a partner may see of tenants."""
    return (
        Channel.objects.filter(installation__package__partner=partner)
        .select_related("tenant", "installation__package")
        .order_by("tenant__slug", "channel_key")
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
