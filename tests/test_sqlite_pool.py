"""The embedded default's SQLite backend (ccp.core.sqlite): idle connections are reused, never shared.

The suite runs on PostgreSQL; these tests build their own SQLite connections (a file in tmp_path)
through Django's ConnectionHandler with the embedded default's options, so nothing here touches the
test database. tests/test_embedded.py proves the backend under the real server.
"""

from __future__ import annotations

import sqlite3
import threading

import pytest
from django.db.utils import ConnectionHandler

from ccp.core.sqlite import base as pool


@pytest.fixture
def sqlite_db(tmp_path, settings, django_db_blocker):
    settings.SQLITE_POOL_SIZE = 3
    path = tmp_path / "pool.sqlite3"
    options = {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA synchronous=NORMAL"}
    handler = ConnectionHandler({"default": {"ENGINE": "ccp.core.sqlite", "NAME": str(path), "OPTIONS": options}})

    def new():
        return handler.create_connection("default")

    with django_db_blocker.unblock():  # our own file, not the test database
        first = new()
        with first.cursor() as c:
            c.execute("CREATE TABLE counter (id integer PRIMARY KEY, n integer NOT NULL)")
            c.execute("INSERT INTO counter VALUES (1, 0)")
        first.close()
        yield path, new
        pool.close_idle()


def test_a_closed_connection_is_handed_to_the_next_one_idle_and_in_wal(sqlite_db):
    path, new = sqlite_db
    a = new()
    a.ensure_connection()
    raw = a.connection
    a.close()
    b = new()
    b.ensure_connection()
    assert b.connection is raw  # the same raw connection: schema parsed, WAL open
    assert not raw.in_transaction
    assert b.connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    b.close()
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_open_transaction_is_rolled_back_before_reuse(sqlite_db):
    _, new = sqlite_db
    a = new()
    a.ensure_connection()
    a.connection.execute("BEGIN IMMEDIATE")
    a.connection.execute("UPDATE counter SET n = 99")
    a.close()
    b = new()
    with b.cursor() as c:
        c.execute("SELECT n FROM counter")
        assert c.fetchone()[0] == 0
    b.close()


def test_a_connection_closed_inside_atomic_is_really_closed(sqlite_db):
    _, new = sqlite_db
    a = new()
    with _atomic(a):
        raw = a.connection
        a.close()
    with pytest.raises(sqlite3.ProgrammingError):  # closed, not pooled
        raw.execute("SELECT 1")
    b = new()
    b.ensure_connection()
    assert b.connection is not raw
    b.close()


def _atomic(conn):
    """transaction.atomic on a connection that is not in django.db.connections."""
    conn.set_autocommit(False)

    class Block:
        def __enter__(self):
            conn.in_atomic_block = True
            return conn

        def __exit__(self, *exc):
            conn.in_atomic_block = False
            return False

    return Block()


def test_at_most_pool_size_idle_connections_are_kept(sqlite_db):
    _, new = sqlite_db
    conns = [new() for _ in range(5)]
    for conn in conns:
        conn.ensure_connection()
    for conn in conns:
        conn.close()
    assert len(pool._idle[str(conns[0].settings_dict["NAME"])]) == 3


def test_concurrent_writers_each_have_their_own_connection(sqlite_db):
    """8 threads, each incrementing one counter 25 times in its own transactions: every increment
    lands (no lost update, no 'database is locked'), however the pool hands connections around."""
    _, new = sqlite_db
    errors: list[BaseException] = []
    in_use: set[int] = set()
    guard = threading.Lock()

    def writer():
        try:
            for _ in range(25):
                conn = new()
                conn.ensure_connection()
                with guard:
                    assert id(conn.connection) not in in_use, "a raw connection was handed out twice"
                    in_use.add(id(conn.connection))
                try:
                    conn.connection.execute("BEGIN IMMEDIATE")
                    (n,) = conn.connection.execute("SELECT n FROM counter WHERE id = 1").fetchone()
                    conn.connection.execute("UPDATE counter SET n = ? WHERE id = 1", (n + 1,))
                    conn.connection.execute("COMMIT")
                finally:
                    with guard:
                        in_use.discard(id(conn.connection))
                    conn.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    check = new()
    with check.cursor() as c:
        c.execute("SELECT n FROM counter")
        assert c.fetchone()[0] == 200
    check.close()
