"""Writes in the partner space."""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_access_token_model, get_application_model, get_refresh_token_model

from ccp.ai.prompts import DEFAULT_PACKAGE_DRAFT_TEMPLATE, draft_prompt_fill
from ccp.ai.provider import SYSTEM_MESSAGE, ProviderNotConfigured, provider_from_settings
from ccp.audit.services import audit_record
from ccp.core.errors import Conflict, Invalid

from .choices import PackageStatus
from .manifest import normalize_manifest, validate_manifest, version_key
from .models import (
    CommunicationPackage,
    ConnectedApp,
    ConversationChannelDefinition,
    DeveloperName,
    PackageCustomObject,
    Partner,
    PlatformEventType,
)
from .signals import grants_revoked


def _clean_scopes(scopes: list[str] | str) -> str:
    wanted = scopes.split() if isinstance(scopes, str) else list(scopes)
    unknown = sorted(set(wanted) - set(settings.PARTNER_SCOPES))
    if unknown:
        raise Invalid(
            f"Unknown scope(s): {', '.join(unknown)}. Choose from {', '.join(settings.PARTNER_SCOPES)}.",
            code="invalid_scope",
            details={"scopes": unknown},
        )
    return " ".join(s for s in settings.PARTNER_SCOPES if s in wanted)


@transaction.atomic
def connected_app_create(
    *, partner: Partner, name: str, scopes: list[str] | str, client_secret: str | None = None
) -> tuple[ConnectedApp, str]:
    """Create the partner's OAuth2 client-credentials application; returns it and the plain secret.

    The secret is stored hashed by django-oauth-toolkit, so this is the only time it can be shown.
    """
    Application = get_application_model()
    secret = client_secret or generate_client_secret()
    application = Application.objects.create(
        name=f"{partner.partner_identifier}: {name}",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
        hash_client_secret=True,
    )
    app = ConnectedApp.objects.create(partner=partner, application=application, name=name, scopes=_clean_scopes(scopes))
    audit_record(action="connected_app.created", obj=app, after={"partner": str(partner.pk), "scopes": app.scopes})
    return app, secret


def _revoke_tokens(*, connected_app: ConnectedApp, scopes: set[str] | None = None) -> int:
    """Revoke the app's issued tokens — those carrying any of `scopes`, or all (None) — in the
    caller's transaction, and tell the event bus so open streams re-check now. Returns how many.

    Deleting the AccessToken rows is django-oauth-toolkit's own revocation; the post_delete signals
    drop each token from this process's grant cache (`ccp.packages.apps`), other processes stop
    accepting it within HOT_LOOKUP_CACHE_SECONDS. Refresh tokens are marked revoked too (client
    credentials issues none, but an application may have been given some by hand).
    """
    AccessToken = get_access_token_model()
    tokens = AccessToken.objects.filter(application_id=connected_app.application_id)
    if scopes is not None:
        doomed = [pk for pk, scope in tokens.values_list("pk", "scope") if scopes & set(scope.split())]
        tokens = AccessToken.objects.filter(pk__in=doomed)
    get_refresh_token_model().objects.filter(application_id=connected_app.application_id, revoked__isnull=True).update(
        revoked=timezone.now()
    )
    count, _ = tokens.delete()
    grants_revoked.send(
        sender=ConnectedApp, partner_id=connected_app.partner_id, application_id=connected_app.application_id
    )
    return count


@transaction.atomic
def connected_app_rotate_secret(*, connected_app: ConnectedApp, client_secret: str | None = None) -> str:
    """Issue a new client secret; the old one and every token issued with it stop working at once.
    Returns the plain secret."""
    secret = client_secret or generate_client_secret()
    application = connected_app.application
    application.client_secret = secret
    application.save(update_fields=["client_secret"])
    _revoke_tokens(connected_app=connected_app)
    audit_record(action="connected_app.secret_rotated", obj=connected_app)
    return secret


@transaction.atomic
def connected_app_set_scopes(*, connected_app: ConnectedApp, scopes: list[str] | str) -> ConnectedApp:
    """Change the scopes the app may request; tokens carrying a removed scope are revoked at once."""
    before = set(ConnectedApp.objects.select_for_update().get(pk=connected_app.pk).scope_list)
    connected_app.scopes = _clean_scopes(scopes)
    connected_app.save(update_fields=["scopes"])
    removed = before - set(connected_app.scope_list)
    if removed:
        _revoke_tokens(connected_app=connected_app, scopes=removed)
    audit_record(
        action="connected_app.scopes_changed",
        obj=connected_app,
        before={"scopes": sorted(before)},
        after={"scopes": connected_app.scope_list},
    )
    return connected_app


@transaction.atomic
def connected_app_set_active(*, connected_app: ConnectedApp, active: bool) -> ConnectedApp:
    """Deactivate (no new tokens; every issued token revoked at once) or reactivate a connected app."""
    connected_app.is_active = active
    connected_app.save(update_fields=["is_active"])
    audit_record(
        action="connected_app.activated" if active else "connected_app.deactivated",
        obj=connected_app,
        after={"is_active": active},
    )
    if not active:
        _revoke_tokens(connected_app=connected_app)
    return connected_app


# --- communication packages (FIG 8) -------------------------------------------------------------


def _partner_client_ids(partner: Partner) -> set[str]:
    return set(partner.connected_apps.values_list("application__client_id", flat=True))


def _check_manifest(*, partner: Partner, manifest: object) -> dict:
    problems = validate_manifest(manifest, partner_client_ids=_partner_client_ids(partner))
    if problems:
        count = sum(len(v) for v in problems.values())
        raise Invalid(
            f"The manifest has {count} problem(s); each is listed under its field path in details.",
            code="invalid_manifest",
            details=problems,
        )
    return normalize_manifest(manifest)  # type: ignore[arg-type]


def _reserve_developer_name(*, partner: Partner, developer_name: str) -> None:
    """The first partner to use a developer name owns it platform-wide (race-safe: unique row)."""
    reservation, _ = DeveloperName.objects.get_or_create(name=developer_name, defaults={"partner": partner})
    if reservation.partner_id != partner.pk:
        raise Invalid(
            f"The developer name '{developer_name}' belongs to another partner; choose another.",
            code="developer_name_taken",
            details={"channel_definition.developer_name": ["is already taken on this platform"]},
        )


def _build_children(package: CommunicationPackage, manifest: dict) -> None:
    definition = manifest["channel_definition"]
    ConversationChannelDefinition.objects.create(
        package=package,
        developer_name=definition["developer_name"],
        label=definition["label"],
        channel_types=definition["channel_types"],
        routing_owner=definition["routing_owner"],
        consent_owner=definition["consent_owner"],
        capabilities=definition["capabilities"],
        connector_url=definition["connector_url"],
        consent_defaults=definition["consent_defaults"],
    )
    PlatformEventType.objects.bulk_create(
        PlatformEventType(
            package=package,
            api_name=e["api_name"],
            label=e["label"],
            outbound_messages=e["outbound_messages"],
            fields=e["fields"],
            required=e["required"],
        )
        for e in manifest["event_types"]
    )
    PackageCustomObject.objects.bulk_create(
        PackageCustomObject(
            package=package, api_name=c["api_name"], label=c["label"], fields=c["fields"], required=c["required"]
        )
        for c in manifest["custom_objects"]
    )


def _apply_manifest(package: CommunicationPackage, manifest: dict) -> None:
    package.developer_name = manifest["channel_definition"]["developer_name"]
    package.name = manifest["name"]
    package.version = manifest["version"]
    package.description = manifest["description"]
    package.manifest = manifest
    client_id = manifest.get("connected_app")
    package.connected_app = package.partner.connected_apps.get(application__client_id=client_id) if client_id else None


def _check_version_free(*, developer_name: str, version: str, exclude_pk=None) -> None:
    clash = CommunicationPackage.objects.filter(developer_name=developer_name, version=version)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise Conflict(
            f"Version {version} of '{developer_name}' already exists; a new version needs a new version number.",
            code="version_exists",
            details={"version": ["already exists for this developer name"]},
        )


@transaction.atomic
def package_create(*, partner: Partner, manifest: object) -> CommunicationPackage:
    """Create a draft package version from a manifest (validated in full; all problems at once)."""
    clean = _check_manifest(partner=partner, manifest=manifest)
    developer_name = clean["channel_definition"]["developer_name"]
    _reserve_developer_name(partner=partner, developer_name=developer_name)
    _check_version_free(developer_name=developer_name, version=clean["version"])
    package = CommunicationPackage(partner=partner)
    _apply_manifest(package, clean)
    try:
        with transaction.atomic():
            package.save()
    except IntegrityError:  # a concurrent create took the version between our check and insert
        raise Conflict(
            f"Version {clean['version']} of '{developer_name}' already exists.", code="version_exists"
        ) from None
    _build_children(package, clean)
    return package


def _lock_draft(package: CommunicationPackage) -> CommunicationPackage:
    locked = CommunicationPackage.objects.select_for_update().get(pk=package.pk)
    if locked.is_published:
        raise Conflict(
            f"Version {locked.version} is published and cannot change; create a new version as a draft.",
            code="package_published",
        )
    return locked


@transaction.atomic
def package_update(*, package: CommunicationPackage, changes: dict) -> CommunicationPackage:
    """Edit a draft: top-level manifest keys in `changes` replace the draft's; the result is re-validated."""
    package = _lock_draft(package)
    if not isinstance(changes, dict):
        raise Invalid("Send a JSON object with the manifest fields to change.", code="invalid_manifest")
    merged = {**package.manifest, **changes}
    clean = _check_manifest(partner=package.partner, manifest=merged)
    developer_name = clean["channel_definition"]["developer_name"]
    if developer_name != package.developer_name:
        _reserve_developer_name(partner=package.partner, developer_name=developer_name)
    _check_version_free(developer_name=developer_name, version=clean["version"], exclude_pk=package.pk)
    _apply_manifest(package, clean)
    package.save()
    ConversationChannelDefinition.objects.filter(package=package).delete()
    package.event_types.all().delete()
    package.custom_objects.all().delete()
    _build_children(package, clean)
    return package


@transaction.atomic
def package_delete(*, package: CommunicationPackage) -> None:
    package = _lock_draft(package)
    package.delete()


@transaction.atomic
def package_publish(*, package: CommunicationPackage) -> CommunicationPackage:
    """Validate everything again and publish; a published version is immutable.

    Checks that may have changed since the draft was saved: the manifest (the connected app may be
    gone), and that this version is newer than every published version of the developer name.
    """
    package = _lock_draft(package)
    _check_manifest(partner=package.partner, manifest=package.manifest)
    newest = (
        CommunicationPackage.objects.filter(developer_name=package.developer_name, status=PackageStatus.PUBLISHED)
        .exclude(pk=package.pk)
        .only("version")
    )
    newer = [p.version for p in newest if p.version_key >= package.version_key]
    if newer:
        raise Conflict(
            f"Version {package.version} is not newer than the published version {max(newer, key=version_key)}.",
            code="version_not_newer",
            details={"version": [f"must be greater than {max(newer, key=version_key)}"]},
        )
    package.status = PackageStatus.PUBLISHED
    package.published_at = timezone.now()
    package.save(update_fields=["status", "published_at", "updated_at"])
    return package


def package_draft(*, description: str, partner_client_ids: set[str]) -> dict:
    """A draft package manifest generated from a partner's description (0115), validated, never created.

    Raises ProviderNotConfigured (503) without a provider, ProviderUnavailable (503) when it fails.
    The answer says what is wrong with the draft, so a person reviews it before creating a package.
    """
    provider = provider_from_settings()
    if provider is None:
        raise ProviderNotConfigured(
            "No generative model is configured, so a package cannot be drafted: set AI_PROVIDER_BASE_URL and "
            "AI_PROVIDER_MODEL, or write the manifest yourself (PARTNER_API.md)."
        )
    prompt = draft_prompt_fill(template=DEFAULT_PACKAGE_DRAFT_TEMPLATE, description=description)
    completion = provider.complete(
        messages=[{"role": "system", "content": SYSTEM_MESSAGE}, {"role": "user", "content": prompt}]
    )
    manifest = _first_json_object(completion)
    if manifest is None:
        problems = {"manifest": ["the model's answer holds no JSON object; try again or describe the channel more"]}
    else:
        problems = validate_manifest(manifest, partner_client_ids=partner_client_ids)
    return {
        "manifest": manifest,
        "problems": problems,
        "valid": manifest is not None and not problems,
        "model": provider.model,
    }


def _first_json_object(text: str) -> dict | None:
    decoder = json.JSONDecoder()
    for match in [m.group(1) for m in re.finditer(r"```(?:json|JSON)?\s*(.*?)```", text, re.DOTALL)] + [text]:
        for start in [i for i, char in enumerate(match) if char == "{"]:
            try:
                value, _end = decoder.raw_decode(match, start)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None
