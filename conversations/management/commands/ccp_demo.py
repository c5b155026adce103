"""Seed (or refresh) the demo: a partner with an OAuth app and a published messaging package, the
tenant `acme` with the package installed (one web-chat channel, and the e-mail package's channel of
examples/email_partner), an admin, a supervisor and two agents; and a second partner, the demo
telephony partner (examples/telephony_partner), whose call center is installed in `acme` too.

Idempotent: existing rows are kept; demo passwords are reset to the documented values and, because
client secrets are stored hashed, a fresh demo client secret is issued on every run.
"""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from ccp.packages import services as package_services
from ccp.packages.models import CommunicationPackage, ConnectedApp, Partner
from tenants import services as tenant_services
from tenants.choices import Role
from tenants.models import Membership, PackageInstallation, Tenant

from ._demo_email import install_demo_email

DEMO_PARTNER = {"partner_identifier": "acme-webchat", "name": "Acme Web Chat (demo partner)"}
DEMO_TENANT = {"slug": "acme", "name": "Acme Inc."}
DEMO_ADMIN = {"username": "acme-admin", "password": "demo-admin-pass", "display_name": "Ada Admin"}
DEMO_SUPERVISOR = {"username": "acme-supervisor", "password": "demo-supervisor-pass", "display_name": "Sam Supervisor"}
DEMO_CHANNEL_ADDRESS = "acme-webchat-1"
# The example partner's own manifest (examples/webchat_partner): one source for the demo and the partner.
DEMO_MANIFEST = json.loads(
    (Path(settings.BASE_DIR) / "examples" / "webchat_partner" / "manifest.json").read_text(encoding="utf-8")
)
DEMO_AGENTS = [
    {"username": "agent1", "password": "demo-agent-pass", "display_name": "Alice Agent"},
    {"username": "agent2", "password": "demo-agent-pass", "display_name": "Bob Agent"},
]


class Command(BaseCommand):
    help = "Create or refresh the demo data and print its credentials."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the credentials as one JSON object.")

    @transaction.atomic
    def handle(self, *args, **options):
        partner, _ = Partner.objects.get_or_create(
            partner_identifier=DEMO_PARTNER["partner_identifier"], defaults={"name": DEMO_PARTNER["name"]}
        )
        connected = ConnectedApp.objects.filter(partner=partner, name="demo").first()
        if connected is None:
            connected, secret = package_services.connected_app_create(
                partner=partner, name="demo", scopes=list(_all_scopes())
            )
        else:
            secret = package_services.connected_app_rotate_secret(connected_app=connected)

        tenant = Tenant.objects.filter(slug=DEMO_TENANT["slug"]).first() or tenant_services.tenant_create(**DEMO_TENANT)
        _install_demo_package(partner, tenant)
        admin = _member(tenant, DEMO_ADMIN, Role.ADMIN)
        agents = [_member(tenant, spec, Role.AGENT) for spec in DEMO_AGENTS]

        out = {
            "partner": {
                "id": str(partner.id),
                "partner_identifier": partner.partner_identifier,
                "client_id": connected.application.client_id,
                "client_secret": secret,
            },
            "tenant": tenant.slug,
            "channel_address_id": DEMO_CHANNEL_ADDRESS,
            "agents": [
                {"id": str(m.id), "username": m.user.username, "password": spec["password"]}
                for m, spec in zip(agents, DEMO_AGENTS, strict=True)
            ],
            "admin": {"username": admin.user.username, "password": DEMO_ADMIN["password"]},
        }
        out["email"] = install_demo_email(partner, tenant)  # examples/email_partner
        out.update(_voice_demo(tenant))
        supervisor = _member(tenant, DEMO_SUPERVISOR, Role.SUPERVISOR)
        out["supervisor"] = {"username": supervisor.user.username, "password": DEMO_SUPERVISOR["password"]}
        if options["json"]:
            self.stdout.write(json.dumps(out))
        else:
            self.stdout.write(self.style.SUCCESS("Demo data ready."))
            for key, value in out.items():
                self.stdout.write(f"  {key}: {value}")


def _all_scopes():
    return settings.PARTNER_SCOPES.keys()


def _member(tenant: Tenant, spec: dict, role: str) -> Membership:
    membership = Membership.objects.select_related("user").filter(user__username=spec["username"]).first()
    if membership is None:
        return tenant_services.member_create(
            tenant=tenant,
            username=spec["username"],
            password=spec["password"],
            role=role,
            display_name=spec["display_name"],
        )
    membership.user.set_password(spec["password"])
    membership.user.save(update_fields=["password"])
    return membership


def _install_demo_package(partner: Partner, tenant: Tenant) -> None:
    developer_name = DEMO_MANIFEST["channel_definition"]["developer_name"]
    package = CommunicationPackage.objects.filter(
        developer_name=developer_name, version=DEMO_MANIFEST["version"]
    ).first()
    if package is None:
        package = package_services.package_create(partner=partner, manifest=DEMO_MANIFEST)
    if not package.is_published:
        package_services.package_publish(package=package)
    if not PackageInstallation.objects.filter(tenant=tenant, developer_name=developer_name).exists():
        tenant_services.package_install(
            tenant=tenant,
            developer_name=developer_name,
            partner_identifier=partner.partner_identifier,
            contact_center_name="Acme support",
            channels=[
                tenant_services.ChannelSpec(
                    channel_key="webchat", name="Web chat", channel_address_id=DEMO_CHANNEL_ADDRESS
                )
            ],
        )


# --- the demo telephony partner (examples/telephony_partner): a second partner, a call center ---

VOICE_PARTNER = {"partner_identifier": "acme-telephony", "name": "Acme Telephony (demo partner)"}
VOICE_CHANNEL_ADDRESS = "acme-voice-1"
VOICE_MANIFEST = json.loads(
    (Path(settings.BASE_DIR) / "examples" / "telephony_partner" / "manifest.json").read_text(encoding="utf-8")
)


def _voice_demo(tenant: Tenant) -> dict:
    """The telephony partner with its OAuth app and published voice package, installed in the tenant
    (platform-routed); what `--json` prints of it."""
    partner, _ = Partner.objects.get_or_create(
        partner_identifier=VOICE_PARTNER["partner_identifier"], defaults={"name": VOICE_PARTNER["name"]}
    )
    connected = ConnectedApp.objects.filter(partner=partner, name="demo").first()
    if connected is None:
        connected, secret = package_services.connected_app_create(
            partner=partner, name="demo", scopes=list(_all_scopes())
        )
    else:
        secret = package_services.connected_app_rotate_secret(connected_app=connected)
    developer_name = VOICE_MANIFEST["channel_definition"]["developer_name"]
    package = CommunicationPackage.objects.filter(
        developer_name=developer_name, version=VOICE_MANIFEST["version"]
    ).first()
    if package is None:
        package = package_services.package_create(partner=partner, manifest=VOICE_MANIFEST)
    if not package.is_published:
        package_services.package_publish(package=package)
    if not PackageInstallation.objects.filter(tenant=tenant, developer_name=developer_name).exists():
        tenant_services.package_install(
            tenant=tenant,
            developer_name=developer_name,
            partner_identifier=partner.partner_identifier,
            contact_center_name="Acme call center",
            channels=[
                tenant_services.ChannelSpec(
                    channel_key="phone",
                    name="Phone",
                    channel_address_id=VOICE_CHANNEL_ADDRESS,
                    channel_type="voice",
                )
            ],
        )
    return {
        "voice_channel_address_id": VOICE_CHANNEL_ADDRESS,
        "voice_partner": {
            "id": str(partner.id),
            "partner_identifier": partner.partner_identifier,
            "client_id": connected.application.client_id,
            "client_secret": secret,
        },
    }
