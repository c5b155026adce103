"""Reads in the partner space."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone
from oauth2_provider.models import AccessToken

from ccp.core.errors import NotFound
from ccp.core.ids import parse_id
from ccp.core.local_cache import LocalTtlCache
from ccp.core.untrusted_schema import UnsafeSchema, check_untrusted_schema

from .choices import PackageStatus
from .manifest import fields_schema, version_key
from .models import CommunicationPackage, ConnectedApp, Partner

_PACKAGE_RELATED = ("channel_definition", "connected_app__application")


def package_list(*, partner: Partner) -> QuerySet[CommunicationPackage]:
    return (
        CommunicationPackage.objects.filter(partner=partner)
        .select_related(*_PACKAGE_RELATED)
        .order_by("developer_name", "-created_at")
    )


def access_package(*, partner: Partner, package_id) -> CommunicationPackage:
    """The partner's package version; another partner's is NotFound, like a missing one."""
    try:
        return package_list(partner=partner).get(pk=parse_id(package_id))
    except CommunicationPackage.DoesNotExist:
        raise NotFound("No such package.", code="package_not_found") from None


def published_package(*, developer_name: str, version: str | None = None) -> CommunicationPackage:
    """A published version of a developer name: the given version, or the newest."""
    candidates = list(
        CommunicationPackage.objects.filter(developer_name=developer_name, status=PackageStatus.PUBLISHED)
        .select_related("partner", "channel_definition")
        .prefetch_related("custom_objects", "event_types")
    )
    if version:
        candidates = [p for p in candidates if p.version == version]
    if not candidates:
        what = f"'{developer_name}'" + (f" version {version}" if version else "")
        raise NotFound(f"No published package {what}.", code="package_not_found")
    return max(candidates, key=lambda p: version_key(p.version))


def latest_published_packages() -> list[CommunicationPackage]:
    """The newest published version of every developer name (what a tenant admin can install)."""
    newest: dict[str, CommunicationPackage] = {}
    for package in CommunicationPackage.objects.filter(status=PackageStatus.PUBLISHED).select_related("partner"):
        current = newest.get(package.developer_name)
        if current is None or package.version_key > current.version_key:
            newest[package.developer_name] = package
    return sorted(newest.values(), key=lambda p: (p.partner.name, p.name))


@dataclass(frozen=True)
class BearerGrant:
    """A valid partner access token: its scopes and the connected app (with its partner) behind it."""

    token: AccessToken
    connected_app: ConnectedApp

    @property
    def partner(self) -> Partner:
        return self.connected_app.partner


def bearer_from_header(value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, or None."""
    if not value:
        return None
    kind, _, token = value.partition(" ")
    token = token.strip()
    return token if kind.lower() == "bearer" and token else None


_grants: LocalTtlCache[BearerGrant] = LocalTtlCache()


def bearer_grant(raw_token: str | None) -> BearerGrant | None:
    """The partner grant of a bearer token, or None when it is unknown, expired or not a connected
    app's. One indexed query, then kept per process for `HOT_LOOKUP_CACHE_SECONDS` (the lookup
    was a quarter of an interaction request): a token revoked or an app changed in this process is
    forgotten at once (signals in `ccp.packages.apps`), in other processes within that time.
    Expiry is checked on every call."""
    if not raw_token:
        return None
    checksum = hashlib.sha256(raw_token.encode("utf-8")).hexdigest()
    grant = _grants.get_or_load(checksum, lambda: _load_grant(checksum))
    if grant is None or grant.token.is_expired():
        return None
    return grant


def _load_grant(checksum: str) -> BearerGrant | None:
    token = (
        AccessToken.objects.select_related("application__connected_app__partner")
        .filter(token_checksum=checksum)
        .first()
    )
    if token is None or token.application is None:
        return None
    connected = getattr(token.application, "connected_app", None)
    if connected is None or not connected.is_active:
        return None
    return BearerGrant(token=token, connected_app=connected)


def grants_still_allowing(*, token_ids: list[int], scope: str) -> set[int]:
    """Which of these access tokens still exist, are unexpired, belong to an active connected app
    and carry `scope` that the app is still granted — read now, not from the per-process cache, in
    one query. For long-lived connections (the event stream) that re-check their principal."""
    rows = AccessToken.objects.filter(
        pk__in=token_ids, expires__gt=timezone.now(), application__connected_app__is_active=True
    ).values_list("pk", "scope", "application__connected_app__scopes")
    return {
        pk for pk, token_scopes, app_scopes in rows if scope in token_scopes.split() and scope in app_scopes.split()
    }


def grant_still_allows(*, token_id: int, scope: str) -> bool:
    return token_id in grants_still_allowing(token_ids=[token_id], scope=scope)


def forget_grant(*, token_checksum: str | None = None) -> None:
    """Drop a token's cached grant (None: all of them). Called on token and app changes."""
    if token_checksum is None:
        _grants.clear()
    else:
        _grants.discard(token_checksum)


def package_schema_problems(*, package: CommunicationPackage) -> dict[str, list[str]]:
    """Why a stored package's schemas may not be run ({where: [sentences]}); empty when all are safe.

    Packages published before schemas were checked for safety (ccp.core.untrusted_schema) may hold a
    remote `$ref` or a pattern re2 cannot run; installing or upgrading to one is refused with these.
    """
    problems: dict[str, list[str]] = {}
    for kind, rows in (("event_types", package.event_types.all()), ("custom_objects", package.custom_objects.all())):
        for row in rows:
            try:
                check_untrusted_schema(fields_schema(row.fields, row.required))
            except UnsafeSchema as exc:
                for parts, sentence in exc.problems:
                    where = ".".join([kind, row.api_name, *(str(p) for p in parts)])
                    problems.setdefault(where, []).append(sentence)
    return problems
