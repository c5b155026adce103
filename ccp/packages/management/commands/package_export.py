"""Write a package version's manifest to a file (or stdout), to keep it in version control."""

import json

from django.core.management.base import BaseCommand, CommandError

from ccp.core.commands import domain_errors_as_command_errors
from ccp.core.ids import parse_id
from ccp.packages.models import CommunicationPackage


class Command(BaseCommand):
    help = "Export a package's manifest as JSON: package_export <developer_name>[@<version>] [-o FILE]"

    def add_arguments(self, parser):
        parser.add_argument("package", help="developer_name[@version] (newest when no version) or a package id")
        parser.add_argument("-o", "--output", help="file to write (default: stdout)")

    def handle(self, *args, package, output=None, **options):
        with domain_errors_as_command_errors():
            found = _find(package)
        text = json.dumps(found.manifest, indent=2, sort_keys=True) + "\n"
        if output:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
            self.stderr.write(f"Wrote {found.developer_name} {found.version} ({found.status}) to {output}")
        else:
            self.stdout.write(text, ending="")


def _find(ref: str) -> CommunicationPackage:
    if "@" in ref:
        developer_name, version = ref.split("@", 1)
        found = CommunicationPackage.objects.filter(developer_name=developer_name, version=version).first()
    else:
        found = CommunicationPackage.objects.filter(pk=ref).first() if parse_id(ref) else None
        if found is None:
            versions = list(CommunicationPackage.objects.filter(developer_name=ref))
            found = max(versions, key=lambda p: p.version_key) if versions else None
    if found is None:
        raise CommandError(f"No package '{ref}'.")
    return found
