"""What every demo partner needs (for ccp_demo): an OAuth app with a stable secret, and its example's
package published and installed in the demo tenant — idempotent, one way for the web chat, e-mail and
telephony partners."""

import json
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.utils.crypto import salted_hmac

from ccp.packages import services as package_services
from ccp.packages.models import CommunicationPackage, ConnectedApp, Partner
from tenants import services as tenant_services
from tenants.models import PackageInstallation, Tenant


def example_manifest(example: str) -> dict:
    """The example partner's own manifest (examples/<example>/manifest.json): one source for both."""
    return json.loads((Path(settings.BASE_DIR) / "examples" / example / "manifest.json").read_text(encoding="utf-8"))


def demo_client_secret(partner_identifier: str) -> str:
    """The demo app's secret, derived from SECRET_KEY: the same on every run of this installation, so
    running ccp_demo again (the contract calls it idempotent) neither changes it nor revokes the
    tokens of the example partners that `make run` started with it. Demo apps only."""
    return salted_hmac("ccp.demo.client_secret", partner_identifier, algorithm="sha256").hexdigest()


def demo_partner_app(*, partner_identifier: str, name: str, scopes: list[str]) -> tuple[Partner, ConnectedApp, str]:
    """The partner and its `demo` connected app with the demo secret (stored hashed, as every secret)."""
    partner, _ = Partner.objects.get_or_create(partner_identifier=partner_identifier, defaults={"name": name})
    connected = ConnectedApp.objects.filter(partner=partner, name="demo").first()
    secret = demo_client_secret(partner_identifier)
    if connected is None:
        connected, secret = package_services.connected_app_create(
            partner=partner, name="demo", scopes=scopes, client_secret=secret
        )
    elif not check_password(secret, connected.application.client_secret):  # another SECRET_KEY, or rotated
        secret = package_services.connected_app_rotate_secret(connected_app=connected, client_secret=secret)
    return partner, connected, secret


def demo_package_install(
    *,
    partner: Partner,
    tenant: Tenant,
    manifest: dict,
    contact_center_name: str,
    channel: tenant_services.ChannelSpec,
    share_contact_center: bool = False,
) -> None:
    """Publish the manifest's package (if not yet) and install it in the tenant with one channel (if
    not yet). `share_contact_center`: use the partner's existing contact center in the tenant (one
    proxy per partner) when there is one."""
    developer_name = manifest["channel_definition"]["developer_name"]
    package = CommunicationPackage.objects.filter(developer_name=developer_name, version=manifest["version"]).first()
    if package is None:
        package = package_services.package_create(partner=partner, manifest=manifest)
    if not package.is_published:
        package_services.package_publish(package=package)
    if PackageInstallation.objects.filter(tenant=tenant, developer_name=developer_name).exists():
        return
    sibling = (
        PackageInstallation.objects.filter(tenant=tenant, package__partner=partner).first()
        if share_contact_center
        else None
    )
    tenant_services.package_install(
        contact_center=sibling.contact_center if sibling else None,
        tenant=tenant,
        developer_name=developer_name,
        partner_identifier=partner.partner_identifier,
        contact_center_name=contact_center_name,
        channels=[channel],
    )
