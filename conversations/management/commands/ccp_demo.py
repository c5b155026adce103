"""Seed (or refresh) the demo: a partner with an OAuth app and a published messaging package, the
tenant `acme` with the package installed (one web-chat channel, and the e-mail package's channel of
examples/email_partner), an admin, a supervisor and two agents; and a second partner, the demo
telephony partner (examples/telephony_partner), whose call center is installed in `acme` too.

Idempotent: existing rows are kept; demo passwords are reset to the documented values, and the demo
client secrets are derived from SECRET_KEY (`_demo_packages.demo_client_secret`), so a second run
prints the same ones and the running example partners keep their tokens.
"""

import json

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from ccp.packages.models import Partner
from tenants import services as tenant_services
from tenants.choices import Role
from tenants.models import Membership, Tenant

from ._demo_email import install_demo_email
from ._demo_packages import demo_package_install, demo_partner_app, example_manifest

DEMO_PARTNER = {"partner_identifier": "acme-webchat", "name": "Acme Web Chat (demo partner)"}
DEMO_TENANT = {"slug": "acme", "name": "Acme Inc."}
DEMO_ADMIN = {"username": "acme-admin", "password": "demo-admin-pass", "display_name": "Ada Admin"}
DEMO_SUPERVISOR = {"username": "acme-supervisor", "password": "demo-supervisor-pass", "display_name": "Sam Supervisor"}
DEMO_CHANNEL_ADDRESS = "acme-webchat-1"
DEMO_MANIFEST = example_manifest("webchat_partner")
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
        partner, connected, secret = demo_partner_app(**DEMO_PARTNER, scopes=list(_all_scopes()))

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
    demo_package_install(
        partner=partner,
        tenant=tenant,
        manifest=DEMO_MANIFEST,
        contact_center_name="Acme support",
        channel=tenant_services.ChannelSpec(
            channel_key="webchat", name="Web chat", channel_address_id=DEMO_CHANNEL_ADDRESS
        ),
    )


# --- the demo telephony partner (examples/telephony_partner): a second partner, a call center ---

VOICE_PARTNER = {"partner_identifier": "acme-telephony", "name": "Acme Telephony (demo partner)"}
VOICE_CHANNEL_ADDRESS = "acme-voice-1"
VOICE_MANIFEST = example_manifest("telephony_partner")


def _voice_demo(tenant: Tenant) -> dict:
    """The telephony partner with its OAuth app and published voice package, installed in the tenant
    (platform-routed); what `--json` prints of it."""
    partner, connected, secret = demo_partner_app(**VOICE_PARTNER, scopes=list(_all_scopes()))
    demo_package_install(
        partner=partner,
        tenant=tenant,
        manifest=VOICE_MANIFEST,
        contact_center_name="Acme call center",
        channel=tenant_services.ChannelSpec(
            channel_key="phone", name="Phone", channel_address_id=VOICE_CHANNEL_ADDRESS, channel_type="voice"
        ),
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
