"""Reads in the partner space."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from ccp.core.errors import NotFound

from .choices import PackageStatus
from .manifest import version_key
from .models import CommunicationPackage, Partner

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
        return package_list(partner=partner).get(pk=uuid.UUID(str(package_id)))
    except (CommunicationPackage.DoesNotExist, ValueError):
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
