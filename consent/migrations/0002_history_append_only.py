"""A PostgreSQL trigger makes consent history append-only below the ORM (raw SQL, admin, shell alike).

The only update allowed is the erasure's: the address replaced by its 'sha256:' hash, and the link to
a deleted record or channel set to NULL. Deletes always raise (TRUNCATE, used only by test flushes,
is not a row operation). On SQLite (the embedded default) the model's save()/delete() guards remain.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION consent_change_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'consent history is append-only: rows are never deleted';
    END IF;
    IF (NEW.id, NEW.tenant_id, NEW.channel_address_id, NEW.old_status, NEW.new_status, NEW.pending_opt_in,
        NEW.source, NEW.actor, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.tenant_id, OLD.channel_address_id, OLD.old_status, OLD.new_status, OLD.pending_opt_in,
        OLD.source, OLD.actor, OLD.created_at)
       OR (NEW.address IS DISTINCT FROM OLD.address AND NEW.address NOT LIKE 'sha256:%')
       OR (NEW.record_id IS DISTINCT FROM OLD.record_id AND NEW.record_id IS NOT NULL)
    THEN
        RAISE EXCEPTION 'consent history is append-only: only erasure may change a row (hash the address)';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS consent_change_append_only ON consent_consentchange;
CREATE TRIGGER consent_change_append_only BEFORE UPDATE OR DELETE ON consent_consentchange
    FOR EACH ROW EXECUTE FUNCTION consent_change_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS consent_change_append_only ON consent_consentchange;
DROP FUNCTION IF EXISTS consent_change_append_only();
"""


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
