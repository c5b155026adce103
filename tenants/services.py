"""Writes in the tenant space: members, installations of packages (FIG 10), channels, custom records."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from ccp.audit.services import audit_record
from ccp.core.errors import Conflict, Invalid, NotFound
from ccp.core.untrusted_schema import UnsafeSchema, untrusted_errors
from ccp.packages.choices import ChannelType
from ccp.packages.models import CommunicationPackage, Partner
from ccp.packages.selectors import package_schema_problems, published_package

from .choices import ChannelKind, InstallationStatus, Role
from .models import (
    Channel,
    ContactCenter,
    CustomObjectDefinition,
    Membership,
    PackageInstallation,
    Tenant,
)
from .signals import installation_uninstalling

# --- tenants and members ------------------------------------------------------------------------


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
    membership = Membership.objects.create(user=user, tenant=tenant, role=role, display_name=display_name)
    audit_record(action="membership.created", tenant=tenant, obj=membership, after={"role": role})
    return membership


def membership_set_role(*, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise Invalid(f"Unknown role '{role}'.", code="invalid_role")
    previous = Membership.objects.filter(pk=membership.pk).values_list("role", flat=True).first()
    membership.role = role
    membership.save(update_fields=["role"])
    if previous != role:
        audit_record(
            action="membership.role_changed",
            tenant=membership.tenant,
            obj=membership,
            before={"role": previous},
            after={"role": role},
        )
    user = membership.user
    if not user.is_superuser and user.is_staff != (role == Role.ADMIN):
        user.is_staff = role == Role.ADMIN
        user.save(update_fields=["is_staff"])
    return membership


# --- channels -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelSpec:
    """A channel to add: key unique in the tenant, address id unique in the tenant and the partner's namespace."""

    channel_key: str
    channel_address_id: str
    channel_type: str = ChannelType.MESSAGING
    name: str = ""


def _channel_problems(
    *,
    tenant: Tenant,
    partner: Partner | None,
    specs: list[ChannelSpec],
    allowed_types: list[str],
    prefix: str = "channels",
) -> tuple[dict[str, list[str]], bool]:
    """Problems of channels to add, by field path; and whether any is a clash with existing data.

    An address id is unique in its partner's namespace (inbound is resolved by partner and address id)
    and in the tenant; another partner's channel with the same address id is no clash."""
    problems: dict[str, list[str]] = defaultdict(list)
    clash = False
    keys, addresses = set(), set()
    for i, spec in enumerate(specs):
        where = f"{prefix}[{i}]"
        if not spec.channel_key or slugify(spec.channel_key) != spec.channel_key:
            problems[f"{where}.channel_key"].append("must be lowercase letters, digits, hyphens or underscores")
        elif spec.channel_key in keys:
            problems[f"{where}.channel_key"].append("is used twice in this request")
        elif Channel.objects.filter(tenant=tenant, channel_key=spec.channel_key).exists():
            problems[f"{where}.channel_key"].append("is already a channel of this tenant")
            clash = True
        keys.add(spec.channel_key)
        if not spec.channel_address_id or len(spec.channel_address_id) > 200:
            problems[f"{where}.channel_address_id"].append("is required (at most 200 characters)")
        elif spec.channel_address_id in addresses:
            problems[f"{where}.channel_address_id"].append("is used twice in this request")
        elif Channel.objects.filter(tenant=tenant, channel_address_id=spec.channel_address_id).exists():
            problems[f"{where}.channel_address_id"].append("is already a channel of this tenant")
            clash = True
        elif (
            partner is not None
            and Channel.objects.filter(partner=partner, channel_address_id=spec.channel_address_id).exists()
        ):
            problems[f"{where}.channel_address_id"].append("is already taken in this partner's namespace")
            clash = True
        addresses.add(spec.channel_address_id)
        if spec.channel_type not in allowed_types:
            problems[f"{where}.channel_type"].append(f"must be one of {', '.join(allowed_types)}")
    return dict(problems), clash


def _raise_channel_problems(problems: dict, clash: bool) -> None:
    if problems:
        count = sum(len(v) for v in problems.values())
        if clash and all("already" in m for msgs in problems.values() for m in msgs):
            raise Conflict(
                "A channel key or channel address id is already taken; see details.",
                code="channel_address_taken",
                details=problems,
            )
        raise Invalid(f"{count} channel problem(s); see details.", code="invalid_channels", details=problems)


def _create_channels(
    *, tenant: Tenant, contact_center: ContactCenter, installation: PackageInstallation | None, specs
) -> list[Channel]:
    return [
        Channel.objects.create(
            tenant=tenant,
            contact_center=contact_center,
            installation=installation,
            partner_id=installation.package.partner_id if installation else None,
            kind=ChannelKind.CUSTOM if installation else ChannelKind.STANDARD,
            channel_key=spec.channel_key,
            name=spec.name or spec.channel_key,
            channel_type=spec.channel_type,
            channel_address_id=spec.channel_address_id,
        )
        for spec in specs
    ]


def _integrity_to_conflict(exc: IntegrityError) -> Conflict:
    text = str(exc)
    if "channel_address_id" in text:
        return Conflict("That channel address id was just taken.", code="channel_address_taken")
    if "uniq_installation_per_tenant" in text:
        return Conflict("This package is already installed in this tenant.", code="already_installed")
    return Conflict("A concurrent change clashed with this one; retry.", code="conflict")


def channel_add_problems(
    *, tenant: Tenant, spec: ChannelSpec, installation: PackageInstallation | None = None
) -> dict[str, list[str]]:
    """What `channel_add` would refuse, by field name (`channel_key`, `channel_address_id`, …): for forms."""
    allowed = (
        installation.package.channel_definition.channel_types if installation is not None else [ChannelType.MESSAGING]
    )
    partner = installation.package.partner if installation is not None else None
    problems, _clash = _channel_problems(
        tenant=tenant, partner=partner, specs=[spec], allowed_types=allowed, prefix="channel"
    )
    return {path.removeprefix("channel."): messages for path, messages in problems.items()}


def channel_add(
    *,
    tenant: Tenant,
    contact_center: ContactCenter,
    spec: ChannelSpec,
    installation: PackageInstallation | None = None,
) -> Channel:
    """Add one channel: a standard one (no installation) or another channel of an installed package."""
    if contact_center.tenant_id != tenant.pk:
        raise NotFound("No such contact center.", code="contact_center_not_found")
    allowed = (
        installation.package.channel_definition.channel_types if installation is not None else [ChannelType.MESSAGING]
    )
    partner = installation.package.partner if installation is not None else None
    problems, clash = _channel_problems(
        tenant=tenant, partner=partner, specs=[spec], allowed_types=allowed, prefix="channel"
    )
    _raise_channel_problems(problems, clash)
    try:
        with transaction.atomic():
            return _create_channels(
                tenant=tenant, contact_center=contact_center, installation=installation, specs=[spec]
            )[0]
    except IntegrityError as exc:
        raise _integrity_to_conflict(exc) from None


# --- installing packages (FIG 10) ----------------------------------------------------------------


def authorization_link(*, partner_identifier: str, developer_name: str, tenant_slug: str) -> str:
    """FIG 10 1010: the link that authorizes this tenant on this partner's channel."""
    return f"{partner_identifier}:{developer_name}:{tenant_slug}"


def _sync_custom_objects(*, installation: PackageInstallation, package: CommunicationPackage) -> None:
    """Create the package's custom objects in the tenant's data dictionary; on upgrade add fields, drop none."""
    tenant = installation.tenant
    for spec in package.custom_objects.all():
        existing = CustomObjectDefinition.objects.filter(
            tenant=tenant, namespace=installation.developer_name, api_name=spec.api_name
        ).first()
        if existing is None:
            CustomObjectDefinition.objects.create(
                tenant=tenant,
                installation=installation,
                namespace=installation.developer_name,
                api_name=spec.api_name,
                label=spec.label,
                fields=spec.fields,
                required=spec.required,
            )
        else:
            existing.fields = {**existing.fields, **spec.fields}
            existing.required = [r for r in spec.required if r in existing.fields]
            existing.label = spec.label or existing.label
            existing.save(update_fields=["fields", "required", "label", "updated_at"])


def _refuse_unsafe_schemas(package: CommunicationPackage) -> None:
    problems = package_schema_problems(package=package)
    if problems:
        raise Invalid(
            f"{package.developer_name} {package.version} declares schemas the platform will not run "
            "(remote $ref, unsafe pattern or format, or over the size budget); the partner must publish a "
            "fixed version.",
            code="unsafe_package_schema",
            details=problems,
        )


def package_install(
    *,
    tenant: Tenant,
    developer_name: str,
    partner_identifier: str,
    channels: list[ChannelSpec],
    version: str | None = None,
    contact_center: ContactCenter | None = None,
    contact_center_name: str = "",
    installed_by=None,
) -> PackageInstallation:
    """Install a published package into a tenant space (FIG 10), all or nothing.

    Checks the partner identifier against the package's partner (1008), derives the authorization
    link (1010), creates the data-dictionary entries (1012) and the tenant records (1014): the
    installation, a new contact center proxy (or the given existing one) and the channels.
    """
    package = published_package(developer_name=developer_name, version=version)
    _refuse_unsafe_schemas(package)
    if partner_identifier.strip() != package.partner.partner_identifier:
        raise Invalid(
            "The partner identifier does not match the partner who published this package.",
            code="partner_identifier_mismatch",
            details={"partner_identifier": ["does not match the package's partner"]},
        )
    if PackageInstallation.objects.filter(tenant=tenant, developer_name=developer_name).exists():
        raise Conflict(
            f"'{developer_name}' is already installed in {tenant.slug}; upgrade it instead.",
            code="already_installed",
        )
    if contact_center is not None and contact_center.tenant_id != tenant.pk:
        raise NotFound("No such contact center.", code="contact_center_not_found")
    if not channels:
        raise Invalid("Add at least one channel.", code="invalid_channels", details={"channels": ["add at least one"]})
    definition = package.channel_definition
    problems, clash = _channel_problems(
        tenant=tenant, partner=package.partner, specs=channels, allowed_types=definition.channel_types
    )
    name = contact_center_name.strip() or f"{package.partner.name} contact center"
    if contact_center is None and ContactCenter.objects.filter(tenant=tenant, name=name).exists():
        problems.setdefault("contact_center_name", []).append("is already a contact center of this tenant")
    _raise_channel_problems(problems, clash)

    try:
        with transaction.atomic():
            if contact_center is None:
                contact_center = ContactCenter.objects.create(
                    tenant=tenant,
                    name=name,
                    partner=package.partner,
                    connector_url=definition.connector_url,
                    connected_app=package.connected_app,
                    metadata={"developer_name": developer_name},
                )
            installation = PackageInstallation.objects.create(
                tenant=tenant,
                package=package,
                developer_name=developer_name,
                contact_center=contact_center,
                authorization_link=authorization_link(
                    partner_identifier=package.partner.partner_identifier,
                    developer_name=developer_name,
                    tenant_slug=tenant.slug,
                ),
                installed_by=installed_by,
            )
            _sync_custom_objects(installation=installation, package=package)
            _create_channels(tenant=tenant, contact_center=contact_center, installation=installation, specs=channels)
            audit_record(
                action="package.installed",
                tenant=tenant,
                obj=installation,
                after={
                    "developer_name": developer_name,
                    "version": package.version,
                    "channels": [c.channel_address_id for c in channels],
                },
            )
    except IntegrityError as exc:
        raise _integrity_to_conflict(exc) from None
    return installation


@transaction.atomic
def installation_upgrade(*, installation: PackageInstallation, version: str | None = None) -> PackageInstallation:
    """Move an installation to a newer published version: new fields and objects added, nothing lost."""
    installation = (
        PackageInstallation.objects.select_for_update(of=("self",))
        .select_related("package", "tenant")
        .get(pk=installation.pk)
    )
    target = published_package(developer_name=installation.developer_name, version=version)
    _refuse_unsafe_schemas(target)
    if target.version_key <= installation.package.version_key:
        raise Conflict(
            f"{installation.developer_name} {installation.package.version} is already the newest "
            f"(asked for {target.version}).",
            code="not_newer",
        )
    used_types = set(installation.channels.values_list("channel_type", flat=True))
    dropped = used_types - set(target.channel_definition.channel_types)
    if dropped:
        raise Conflict(
            f"Version {target.version} drops channel type(s) {', '.join(sorted(dropped))} that channels use.",
            code="channel_type_removed",
        )
    _sync_custom_objects(installation=installation, package=target)
    before = {"version": installation.package.version}
    installation.package = target
    installation.save(update_fields=["package", "updated_at"])
    audit_record(
        action="package.upgraded",
        tenant=installation.tenant,
        obj=installation,
        before=before,
        after={"version": target.version},
    )
    return installation


def installation_set_status(*, installation: PackageInstallation, active: bool) -> PackageInstallation:
    """Deactivate (interactions are refused with installation_inactive) or reactivate an installation."""
    before = installation.status
    installation.status = InstallationStatus.ACTIVE if active else InstallationStatus.INACTIVE
    installation.save(update_fields=["status", "updated_at"])
    if before != installation.status:
        audit_record(
            action="package.status_changed",
            tenant=installation.tenant,
            obj=installation,
            before={"status": before},
            after={"status": installation.status},
        )
    return installation


@transaction.atomic
def installation_uninstall(*, installation: PackageInstallation, force: bool = False) -> None:
    """Remove an installation with its channels and custom objects; refused while conversations are open.

    With `force`, the apps that hold conversations close them first (installation_uninstalling).
    Nothing of another tenant is touched: everything removed hangs off this installation.
    """
    installation = PackageInstallation.objects.select_for_update().get(pk=installation.pk)
    responses = installation_uninstalling.send(sender=PackageInstallation, installation=installation, force=force)
    still_open = sum(int(result or 0) for _, result in responses)
    if still_open and not force:
        raise Conflict(
            f"{still_open} conversation(s) are open on this package's channels; close them or force the uninstall.",
            code="conversations_open",
            details={"open_conversations": still_open},
        )
    audit_record(
        action="package.uninstalled",
        tenant=installation.tenant,
        obj=installation,
        before={"developer_name": installation.developer_name, "version": installation.package.version},
        after={"forced": bool(force), "conversations_closed": still_open},
    )
    installation.delete()


# --- custom records (FIG 10 0122) ----------------------------------------------------------------


def custom_record_problems(*, definition: CustomObjectDefinition, data: object) -> dict[str, list[str]]:
    """Why `data` does not fit the definition's schema, {path: [messages]}; empty when it fits."""
    problems: dict[str, list[str]] = defaultdict(list)
    try:
        errors = untrusted_errors(definition.schema, data)
    except UnsafeSchema as exc:
        return {"schema": [f"The definition of {definition.api_name} cannot be run safely: {exc}"]}
    for error in errors:
        path = ".".join(str(p) for p in error.absolute_path) or "data"
        problems[path].append(error.message)
    return dict(problems)
