"""`manage.py ccp_createdb`: create the configured PostgreSQL database when it does not exist yet.

`make run` calls it before `migrate`, so `DATABASE_URL=postgres://…/ccp make run` works on a server
that has no `ccp` database yet, as SQLite's file is created on first use. A server that cannot be
reached, or a role that may not create databases, ends with one sentence instead of a traceback.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection

MISSING = "does not exist"  # PostgreSQL's FATAL message for an unknown database (SQLSTATE 3D000)


class Command(BaseCommand):
    help = "Create the configured PostgreSQL database if it does not exist (SQLite: nothing to do)."

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            return
        name = connection.settings_dict["NAME"]
        try:
            connection.ensure_connection()
            return
        except OperationalError as exc:
            if MISSING not in str(exc):
                raise CommandError(f"Cannot reach the database {name!r}: {_first_line(exc)}") from None
        connection.close()
        try:
            with connection._nodb_cursor() as cursor:  # the server's maintenance database, as the test runner
                cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")
        except Exception as exc:
            raise CommandError(
                f"The database {name!r} does not exist and could not be created: {_first_line(exc)}"
            ) from None
        self.stdout.write(f"Created the PostgreSQL database {name!r}.")


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
