"""The demo's e-mail channel (for ccp_demo): the example e-mail partner's package (examples/email_partner)
published by the demo partner and installed in the demo tenant with one support mailbox."""

from ccp.packages.models import Partner
from tenants import services as tenant_services
from tenants.models import Tenant

from ._demo_packages import demo_package_install, example_manifest

EMAIL_MANIFEST = example_manifest("email_partner")
EMAIL_CHANNEL_ADDRESS = "acme-email-1"
EMAIL_SUPPORT_ADDRESS = "support@acme.example"


def install_demo_email(partner: Partner, tenant: Tenant) -> dict:
    """Publish and install the e-mail package (idempotent); the `email` key of `ccp_demo --json`."""
    demo_package_install(
        partner=partner,
        tenant=tenant,
        manifest=EMAIL_MANIFEST,
        contact_center_name="Acme e-mail support",
        channel=tenant_services.ChannelSpec(
            channel_key="email",
            name=f"E-mail ({EMAIL_SUPPORT_ADDRESS})",
            channel_address_id=EMAIL_CHANNEL_ADDRESS,
            channel_type="email",
        ),
        share_contact_center=True,  # the same partner's contact center as the web chat's
    )
    return {"support_address": EMAIL_SUPPORT_ADDRESS, "channel_address_id": EMAIL_CHANNEL_ADDRESS}
