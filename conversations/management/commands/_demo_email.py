"""The demo's e-mail channel (for ccp_demo): the example e-mail partner's package (examples/email_partner)
published by the demo partner and installed in the demo tenant with one support mailbox."""

import json
from pathlib import Path

from django.conf import settings

from ccp.packages import services as package_services
from ccp.packages.models import CommunicationPackage, Partner
from tenants import services as tenant_services
from tenants.models import PackageInstallation, Tenant

EMAIL_MANIFEST = json.loads(
    (Path(settings.BASE_DIR) / "examples" / "email_partner" / "manifest.json").read_text(encoding="utf-8")
)
EMAIL_CHANNEL_ADDRESS = "acme-email-1"
EMAIL_SUPPORT_ADDRESS = "support@acme.example"


def install_demo_email(partner: Partner, tenant: Tenant) -> dict:
    """Publish and install the e-mail package (idempotent); the `email` key of `ccp_demo --json`."""
    developer_name = EMAIL_MANIFEST["channel_definition"]["developer_name"]
    package = CommunicationPackage.objects.filter(
        developer_name=developer_name, version=EMAIL_MANIFEST["version"]
    ).first()
    if package is None:
        package = package_services.package_create(partner=partner, manifest=EMAIL_MANIFEST)
    if not package.is_published:
        package_services.package_publish(package=package)
    if not PackageInstallation.objects.filter(tenant=tenant, developer_name=developer_name).exists():
        # the same partner's contact center as the web chat's (one proxy per partner), when there is one
        sibling = PackageInstallation.objects.filter(tenant=tenant, package__partner=partner).first()
        tenant_services.package_install(
            contact_center=sibling.contact_center if sibling else None,
            tenant=tenant,
            developer_name=developer_name,
            partner_identifier=partner.partner_identifier,
            contact_center_name="Acme e-mail support",
            channels=[
                tenant_services.ChannelSpec(
                    channel_key="email",
                    name=f"E-mail ({EMAIL_SUPPORT_ADDRESS})",
                    channel_address_id=EMAIL_CHANNEL_ADDRESS,
                    channel_type="email",
                )
            ],
        )
    return {"support_address": EMAIL_SUPPORT_ADDRESS, "channel_address_id": EMAIL_CHANNEL_ADDRESS}
