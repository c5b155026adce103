"""Bulk INSERT and UPDATE for hot paths: many rows of one model through a single JSON parameter.

Django's `bulk_create` on PostgreSQL sends every field of every row as a literal of its own (or, in
its UNNEST form, as array literals that psycopg escapes in Python). For rows that carry JSON
documents — a routing dispatch round writes hundreds of offers, decisions and events at once — that
is about three times the client CPU and server time of one `jsonb` parameter unpacked by
`jsonb_to_recordset`, measured on 200 decision rows; `bulk_update` builds a CASE … WHEN expression
per object. Other databases take Django's own.

`insert_sql` is the single-row piece for composed statements: the INSERT that `save()` would run, to
put into a data-modifying CTE beside other writes (PostgreSQL only).
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

from django.db import connections, router
from django.db.models import AutoField, BigAutoField, Model, SmallAutoField


def _encode(value):
    # Full precision: DjangoJSONEncoder cuts datetimes to milliseconds.
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.timedelta):
        return f"{value.total_seconds()} seconds"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def bulk_insert(model: type[Model], objs: list[Model]) -> list[Model]:
    """Insert `objs` as `model.objects.bulk_create(objs)` would — no `save()`, no signals, defaults and
    `auto_now(_add)` applied, database-generated primary keys set on the objects — in one statement.

    Precondition: every JSONField value is JSON as it is (no custom encoder needed).
    """
    if not objs:
        return objs
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        return model.objects.bulk_create(objs)
    meta = model._meta
    generated = meta.pk if isinstance(meta.pk, AutoField | BigAutoField | SmallAutoField) else None
    fields = [f for f in meta.concrete_fields if f is not generated]
    rows = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_insert")
        rows.append({f.column: f.pre_save(obj, add=True) for f in fields})
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    record = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in fields)
    # Identifiers and types come from the model's metadata, quoted; the rows are the one parameter.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
        f"SELECT {columns} FROM jsonb_to_recordset(%s::jsonb) AS r({record})"
    )
    if generated is not None:
        sql += f" RETURNING {quote(generated.column)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, default=_encode)])
        if generated is not None:
            for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):  # RETURNING keeps input order
                setattr(obj, generated.attname, pk)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs


def bulk_update(model: type[Model], objs: list[Model], fields: list[str]) -> int:
    """`model.objects.bulk_update(objs, fields)` in one statement whose one parameter is a JSON array
    of (primary key, values): no CASE … WHEN expression per object to build. Returns rows updated."""
    if not objs:
        return 0
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        return model.objects.bulk_update(objs, fields)
    meta = model._meta
    targets = [meta.get_field(name) for name in fields]
    pk = meta.pk
    rows = [{pk.column: obj.pk, **{f.column: getattr(obj, f.attname) for f in targets}} for obj in objs]
    quote = connection.ops.quote_name
    record = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in [pk, *targets])
    assignments = ", ".join(f"{quote(f.column)} = r.{quote(f.column)}" for f in targets)
    table = quote(meta.db_table)
    # Identifiers and types come from the model's metadata, quoted; the rows are the one parameter.
    sql = (
        f"UPDATE {table} SET {assignments} "  # noqa: S608
        f"FROM jsonb_to_recordset(%s::jsonb) AS r({record}) WHERE {table}.{quote(pk.column)} = r.{quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, default=_encode)])
        return cursor.rowcount


def insert_sql(obj, *, returning: str | None = None, ignore_conflicts: bool = False, only_if: str | None = None):
    """The INSERT that `obj.save()` would run, as `(sql, params)`, to compose into one statement.

    For the hot paths' data-modifying CTEs (a `sql.py` beside its service): Django builds the column
    list and converts every value exactly as `save()` does, and the caller adds the statement around
    it. Values are `obj`'s as they are (defaults were set when it was built); an `auto_now` /
    `auto_now_add` field left empty is filled as `save()` would, one set by the caller is kept.
    `returning`: a column to return; `ignore_conflicts`: ON CONFLICT DO NOTHING (any unique index);
    `only_if`: a SQL condition — the row is inserted only when it holds (INSERT … SELECT … WHERE).
    PostgreSQL only (SQLite has no data-modifying CTEs).
    """
    from django.db.models import sql as orm_sql
    from django.db.models.constants import OnConflict

    connection = connections[router.db_for_write(type(obj))]
    meta = obj._meta
    fields = [f for f in meta.local_concrete_fields if not (f is meta.auto_field and obj.pk is None)]
    query = orm_sql.InsertQuery(type(obj), on_conflict=OnConflict.IGNORE if ignore_conflicts else None)
    for field in fields:
        if (getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)) and getattr(
            obj, field.attname
        ) is None:
            field.pre_save(obj, add=True)
    query.insert_values(fields, [obj], raw=True)
    [(sql, params)] = query.get_compiler(using=connection.alias).as_sql()
    if only_if is not None:
        head, values = sql.split(") VALUES (", 1)
        if not values.endswith(")"):
            raise ValueError(f"only_if needs a plain one-row INSERT, not {sql[:80]!r}")
        sql = f"{head}) SELECT {values[:-1]} WHERE {only_if}"
    if returning:
        sql = f"{sql} RETURNING {connection.ops.quote_name(returning)}"
    return sql, list(params)


def mark_saved(obj) -> None:
    """After `insert_sql`'s row was written by a composed statement: `obj` behaves as if saved."""
    obj._state.adding = False
    obj._state.db = connections[router.db_for_write(type(obj))].alias
