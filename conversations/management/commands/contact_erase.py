"""Erase a contact's personal data in one tenant: messages redacted, name blanked, addresses removed;
consent history kept with the address hashed (SHA-256, per-deployment salt)."""

import json

from django.core.management.base import BaseCommand, CommandError

from conversations.privacy import contact_erase
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Erase the personal data of the contact at an address in a tenant (consent history is kept, hashed)."

    def add_arguments(self, parser):
        parser.add_argument("--address", required=True)
        parser.add_argument("--tenant", required=True, help="The tenant slug.")

    def handle(self, *args, address, tenant, **options):
        scope = Tenant.objects.filter(slug=tenant).first()
        if scope is None:
            raise CommandError(f"No tenant '{tenant}'.")
        result = contact_erase(tenant=scope, address=address)
        self.stdout.write(json.dumps(result))
