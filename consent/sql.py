"""The outbound check's one statement in SQL (PostgreSQL; the ORM elsewhere — `consent.services`)."""

from __future__ import annotations

from django.db import connection

from .choices import ConsentStatus
from .models import ConsentRecord


def record_lock_with_erased(*, channel_id, address: str, hashed: str) -> ConsentRecord | None:
    """The (channel, address) record locked until commit, carrying `erased_opt_out_found`: whether an
    erased opt-out of the address (`hashed`) exists. None when there is no record yet. One query for
    `select_for_update().filter(…).first()` plus `selectors.erased_opt_out`'s EXISTS."""
    table = connection.ops.quote_name(ConsentRecord._meta.db_table)
    # The table name comes from the model's metadata, quoted; every value is a parameter.
    sql = f"""
        SELECT r.*, EXISTS (
            SELECT 1 FROM {table} h WHERE h.channel_id = r.channel_id AND h.address = %s AND h.status = %s
        ) AS erased_opt_out_found
        FROM {table} r WHERE r.channel_id = %s AND r.address = %s
        FOR UPDATE OF r"""  # noqa: S608
    found = list(ConsentRecord.objects.raw(sql, [hashed, ConsentStatus.OPT_OUT, channel_id, address]))
    return found[0] if found else None
