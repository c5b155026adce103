"""Write the event payload section of docs/events.md from ccp/events/payloads.py (or --check it)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ccp.events.payloads import DOCS_BEGIN, DOCS_END, payloads_markdown


def docs_with_payloads(text: str) -> str:
    """`text` (docs/events.md) with its generated section replaced by the current declarations."""
    start, end = text.find(DOCS_BEGIN), text.find(DOCS_END)
    if start < 0 or end < start:
        raise CommandError(f"docs/events.md has no section between {DOCS_BEGIN!r} and {DOCS_END!r}.")
    return text[:start] + payloads_markdown() + text[end + len(DOCS_END) :]


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="fail if docs/events.md is out of date")

    def handle(self, *args, check: bool = False, **options):
        path = Path(settings.BASE_DIR) / "docs" / "events.md"
        text = path.read_text()
        updated = docs_with_payloads(text)
        if check:
            if updated != text:
                raise CommandError("docs/events.md is out of date: run `manage.py events_docs`.")
            self.stdout.write("docs/events.md is up to date.")
            return
        path.write_text(updated)
        self.stdout.write("docs/events.md updated.")
