"""Create (or refresh) a draft from a manifest file, optionally publishing it."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ccp.core.commands import domain_errors_as_command_errors
from ccp.packages import services
from ccp.packages.models import CommunicationPackage, Partner


class Command(BaseCommand):
    help = "Import a manifest file as a draft for a partner: package_import FILE --partner ID [--publish]"

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--partner", required=True, help="the partner identifier")
        parser.add_argument("--publish", action="store_true", help="publish after importing")

    def handle(self, *args, file, partner, publish=False, **options):
        try:
            with open(file, encoding="utf-8") as fh:
                manifest = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from None
        owner = Partner.objects.filter(partner_identifier=partner).first()
        if owner is None:
            raise CommandError(f"No partner '{partner}'.")
        with domain_errors_as_command_errors(), transaction.atomic():
            package = self._upsert(owner, manifest)
            if publish and not package.is_published:
                package = services.package_publish(package=package)
        self.stdout.write(f"{package.developer_name} {package.version}: {package.status} (id {package.id})")

    def _upsert(self, partner: Partner, manifest) -> CommunicationPackage:
        definition = manifest.get("channel_definition") if isinstance(manifest, dict) else None
        developer_name = definition.get("developer_name") if isinstance(definition, dict) else None
        existing = CommunicationPackage.objects.filter(
            partner=partner, developer_name=developer_name, version=manifest.get("version")
        ).first()
        if existing is None:
            return services.package_create(partner=partner, manifest=manifest)
        if existing.is_published:
            if existing.manifest == services.normalize_manifest(manifest):
                return existing  # re-importing what is published is a no-op
            raise CommandError(
                f"{developer_name} {existing.version} is published and differs from the file; bump the version."
            )
        return services.package_update(package=existing, changes=manifest)
