"""Reads in the tenant space. Everything tenant-owned is fetched through its tenant."""

from __future__ import annotations

from importlib import import_module
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.cache import caches
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from ccp.core.errors import NotFound
from ccp.core.local_cache import LocalTtlCache

from .choices import Role
from .models import BusinessHours, Channel, ContactCenter, Membership, PackageInstallation, Tenant

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


def _sessions_data(session_keys: list[str]) -> dict[str, dict]:
    """The data of live sessions among `session_keys` (ended or expired ones are absent), read in
    bulk: one cache `get_many` for the cache engines, then one query for the database engines."""
    engine = import_module(settings.SESSION_ENGINE)
    store = engine.SessionStore
    found: dict[str, dict] = {}
    missing = list(session_keys)
    prefix = getattr(store, "cache_key_prefix", None)
    if prefix is not None:  # the cache and cached_db engines
        cached = caches[settings.SESSION_CACHE_ALIAS].get_many([prefix + key for key in missing])
        found.update({key: cached[prefix + key] for key in missing if cached.get(prefix + key) is not None})
        missing = [key for key in missing if key not in found]
        if not issubclass(store, DatabaseSessionStore):
            return found  # cache only: not in the cache means ended
    if missing and issubclass(store, DatabaseSessionStore):
        rows = store.get_model_class().objects.filter(session_key__in=missing, expire_date__gt=timezone.now())
        found.update({row.session_key: store().decode(row.session_data) for row in rows})
    else:
        for key in missing:  # other engines (files, signed cookies): one by one
            data = store(key).load()
            if data:
                found[key] = data
    return found


def memberships_for_sessions(*, sockets: list[tuple[str | None, object]]) -> set[tuple[str | None, object]]:
    """Which (session key, membership id) pairs still stand, read now (not from the per-process
    cache) — for long-lived connections (agent websockets) that re-check their principal, all of a
    process's sockets at once.

    A pair has ended when its session has (logout, expiry, flushed), its user is inactive or changed
    password (the session hash, checked as `django.contrib.auth.get_user` does, fallback keys
    included), or the membership or its tenant is gone or inactive. A session read in bulk and one
    query, however many sockets.
    """
    sessions = _sessions_data([key for key, _ in sockets if key])
    members = {
        str(m.pk): m
        for m in Membership.objects.select_related("user").filter(
            pk__in={membership_id for _, membership_id in sockets},
            user__is_active=True,
            tenant__is_active=True,
        )
    }
    standing = set()
    for session_key, membership_id in sockets:
        data = sessions.get(session_key) if session_key else None
        membership = members.get(str(membership_id))
        if not data or membership is None or str(data.get(SESSION_KEY)) != str(membership.user_id):
            continue
        if data.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
            continue
        session_hash = data.get(HASH_SESSION_KEY) or ""
        user = membership.user
        hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
        if session_hash and any(constant_time_compare(session_hash, h) for h in hashes):
            standing.add((session_key, membership_id))
    return standing


def session_membership_stands(*, session_key: str | None, membership_id) -> bool:
    """Whether one socket's (session key, membership id) still stands (see above)."""
    return (session_key, membership_id) in memberships_for_sessions(sockets=[(session_key, membership_id)])


def membership_ids_of_tenant(*, tenant_id) -> list:
    return list(Membership.objects.filter(tenant_id=tenant_id).values_list("pk", flat=True))


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


def tenant_channels(*, tenant: Tenant) -> QuerySet[Channel]:
    """The tenant's channels by name, with their installation, package and channel definition."""
    return (
        Channel.objects.filter(tenant=tenant)
        .select_related("installation__package__channel_definition")
        .order_by("name")
    )


def access_channel(*, tenant: Tenant, channel_address_id: str) -> Channel:
    """The tenant's channel at this address (with its package and tenant); anything else is NotFound."""
    channel = (
        Channel.objects.select_related("installation__package__channel_definition", "tenant")
        .filter(tenant=tenant, channel_address_id=channel_address_id)
        .first()
    )
    if channel is None:
        raise NotFound(f"'{channel_address_id}' is not a channel of your tenant.", code="unknown_channel")
    return channel


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


_channels_by_id: LocalTtlCache[Channel] = LocalTtlCache()


def channel_cached(*, channel_id) -> Channel | None:
    """A channel by id with its tenant, installation, package (without its manifest), channel
    definition and partner: what a conversation's services read of its channel on every agent reply.
    Kept per process like `channel_for_partner`'s (same signals, same `HOT_LOOKUP_CACHE_SECONDS`);
    treat it as read-only. None when it no longer exists."""

    def load() -> Channel | None:
        return (
            Channel.objects.select_related("tenant", "installation__package__channel_definition")
            .select_related("installation__package__partner")
            .defer("installation__package__manifest")
            .filter(pk=channel_id)
            .first()
        )

    return _channels_by_id.get_or_load(channel_id, load)


def forget_channels(**_signal_kwargs) -> None:
    """Drop the cached channels (any channel, installation, package, definition, tenant or partner change)."""
    _partner_channels.clear()
    _channels_by_id.clear()


def business_calendar(*, business_hours_id):
    """A business-hours calendar for tenants/business_hours.py, read fresh (it may have been edited in
    the admin since a cached channel was loaded); None when it no longer exists. Two queries."""
    calendar = BusinessHours.objects.filter(pk=business_hours_id).prefetch_related("holidays").first()
    return None if calendar is None else (calendar, calendar.calendar())
