"""`manage.py ccp_createdb` (run by `make run` before `migrate`): a PostgreSQL database that does not
exist yet is created, an existing one is left alone, and a server that cannot be reached is one
sentence and exit status 1 — real PostgreSQL, the command in a subprocess as `make run` runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from django.db import connection

from tests.servers import ROOT, free_port

pytestmark = pytest.mark.django_db


def _createdb(url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DATABASE_URL=url, DEBUG="1")
    return subprocess.run(
        [sys.executable, "manage.py", "ccp_createdb"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def _exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None


def test_a_missing_database_is_created_once_and_an_existing_one_left_alone():
    db = connection.settings_dict
    name = f"ccp_createdb_{uuid.uuid4().hex[:8]}"
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"
    assert not _exists(name)
    try:
        first = _createdb(url)
        assert first.returncode == 0, first.stderr
        assert f"Created the PostgreSQL database '{name}'." in first.stdout
        assert _exists(name)
        again = _createdb(url)
        assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr
    finally:
        with psycopg.connect(
            host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True
        ) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_a_server_that_cannot_be_reached_is_one_sentence_and_status_1():
    done = _createdb(f"postgres://postgres@127.0.0.1:{free_port()}/ccp")
    assert done.returncode == 1
    assert done.stderr.startswith("CommandError: Cannot reach the database 'ccp': ")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
