"""The full-text search index over message texts (conversations.selectors_tools.search): a GIN index on
to_tsvector('simple', text), on PostgreSQL only (SQLite, the embedded default, searches with LIKE)."""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS conversations_message_text_fts ON conversations_message "
    "USING GIN (to_tsvector('simple'::regconfig, text))"
)
DROP = "DROP INDEX IF EXISTS conversations_message_text_fts"


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [('conversations', '0005_notes_and_canned_responses')]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
