"""Reads in the tenant space. Everything tenant-owned is fetched through its tenant."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.utils.crypto import constant_time_compare

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


def membership_for_session(*, session_key: str | None, membership_id) -> Membership | None:
    """The membership a logged-in session still stands for, read now (not from the per-process
    cache) — for long-lived connections (the agent websocket) that re-check their principal.

    None when the session has ended (logout, expiry, flushed), its user is inactive or changed
    password (the session hash, as `django.contrib.auth.get_user` checks it, fallback keys
    included), or the membership or its tenant is gone or inactive. One session read (the cache,
    with the cached_db engine) and one query.
    """
    if not session_key:
        return None
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    user_id, session_hash = data.get(SESSION_KEY), data.get(HASH_SESSION_KEY)
    if user_id is None or not session_hash or data.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
        return None
    membership = (
        Membership.objects.select_related("tenant", "user")
        .filter(pk=membership_id, user_id=user_id, user__is_active=True, tenant__is_active=True)
        .first()
    )
    if membership is None:
        return None
    user = membership.user
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return membership if any(constant_time_compare(session_hash, h) for h in hashes) else None


def membership_ids_of_tenant(*, tenant_id) -> list:
    return list(Membership.objects.filter(tenant_id=tenant_id).values_list("pk", flat=True))


def admin_tenant_for_user(*, user) -> Tenant | None:
    """The tenant a (non-superuser) tenant admin administers, or None."""
    membership = membership_for_user(user=user)
    if membership is not None and membership.role == Role.ADMIN:
        return membership.tenant
    return None


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
