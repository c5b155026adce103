"""Print, as JSON, everything held about an end-user address: consent records and history, contacts,
conversations and messages (a data-subject access request)."""

import json

from django.core.management.base import BaseCommand, CommandError

from conversations.privacy import contact_export
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Export consent records, history and conversations of an end-user address as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--address", required=True, help="The end user's address (phone number, chat id…).")
        parser.add_argument("--tenant", help="A tenant slug; all tenants when omitted.")

    def handle(self, *args, address, tenant=None, **options):
        scope = None
        if tenant:
            scope = Tenant.objects.filter(slug=tenant).first()
            if scope is None:
                raise CommandError(f"No tenant '{tenant}'.")
        self.stdout.write(json.dumps(contact_export(address=address, tenant=scope), indent=2, ensure_ascii=False))
