"""Install a published package into a tenant (FIG 10) from the command line."""

from django.core.management.base import BaseCommand, CommandError

from ccp.core.commands import domain_errors_as_command_errors
from tenants import services
from tenants.models import ContactCenter, Tenant


class Command(BaseCommand):
    help = (
        "package_install --tenant SLUG --package DEVELOPER_NAME[@VERSION] --partner-identifier ID "
        "--channel KEY:TYPE:ADDRESS_ID[:NAME] [--channel …] [--contact-center NAME | --new-contact-center NAME]"
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--package", required=True)
        parser.add_argument("--partner-identifier", required=True)
        parser.add_argument("--channel", action="append", default=[], required=True)
        parser.add_argument("--contact-center", help="add the channels to this existing contact center")
        parser.add_argument("--new-contact-center", default="", help="name of the new contact center")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant '{opts['tenant']}'.")
        developer_name, _, version = opts["package"].partition("@")
        contact_center = None
        if opts["contact_center"]:
            contact_center = ContactCenter.objects.filter(tenant=tenant, name=opts["contact_center"]).first()
            if contact_center is None:
                raise CommandError(f"No contact center '{opts['contact_center']}' in {tenant.slug}.")
        channels = []
        for raw in opts["channel"]:
            parts = raw.split(":", 3)
            if len(parts) < 3:
                raise CommandError(f"--channel {raw!r}: use KEY:TYPE:ADDRESS_ID[:NAME]")
            key, kind, address = parts[:3]
            channels.append(
                services.ChannelSpec(
                    channel_key=key,
                    channel_type=kind,
                    channel_address_id=address,
                    name=parts[3] if len(parts) > 3 else "",
                )
            )
        with domain_errors_as_command_errors():
            installation = services.package_install(
                tenant=tenant,
                developer_name=developer_name,
                version=version or None,
                partner_identifier=opts["partner_identifier"],
                channels=channels,
                contact_center=contact_center,
                contact_center_name=opts["new_contact_center"],
            )
        self.stdout.write(
            f"Installed {installation.developer_name} {installation.package.version} in {tenant.slug}: "
            f"authorization link {installation.authorization_link}"
        )
