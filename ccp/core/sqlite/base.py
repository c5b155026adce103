"""Django's SQLite backend, keeping the raw connections of one process open for the next request.

Under daphne every request runs in its own context and so gets a new Django connection, which
Django closes when the request ends. On SQLite that was most of an inbound message's time
(docs/performance.md, "Round 3"): a new connection parses the whole schema again (~7 ms for ccp's
tables and indexes), and closing the last connection to a WAL database checkpoints it and deletes
the WAL file, so that the next request's first commit creates and syncs it again (~23 ms of
fsyncs per request together). Here `close()` hands the raw connection back to a small per-process
pool instead, and the next `connect()` takes it: the schema stays parsed and the WAL stays open.

A connection goes back only when it is idle: not inside `atomic()` and with no transaction open
(what is open is rolled back first); anything beyond `SQLITE_POOL_SIZE` idle connections is really
closed. One raw connection is used by one Django connection at a time (the pool hands it out under
a lock), so concurrent requests still each have their own and SQLite's write lock orders them.
WAL mode is a property of the file: it is set once per process, not on every connection.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.db.backends.sqlite3 import base

_lock = threading.Lock()
_idle: dict[str, list] = {}  # database path -> idle raw connections
_wal_set: set[str] = set()  # database paths whose journal mode this process has set


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        path = str(conn_params["database"])
        if not self.is_in_memory_db():
            with _lock:
                idle = _idle.get(path)
                if idle:
                    return idle.pop()
        conn = super().get_new_connection(conn_params)
        if not self.is_in_memory_db() and path not in _wal_set:
            conn.execute("PRAGMA journal_mode=WAL")
            _wal_set.add(path)
        return conn

    def _close(self):
        conn = self.connection
        if conn is None or self.in_atomic_block or self.is_in_memory_db():
            return super()._close()
        try:
            if conn.in_transaction:
                conn.rollback()
            conn.execute("PRAGMA foreign_keys = ON")  # as a new connection has it (migrations turn it off)
        except base.Database.Error:
            return super()._close()
        path = str(self.settings_dict["NAME"])
        with _lock:
            idle = _idle.setdefault(path, [])
            if len(idle) < getattr(settings, "SQLITE_POOL_SIZE", 8):
                idle.append(conn)
                return None
        return super()._close()


def close_idle() -> None:
    """Really close this process's idle connections (e.g. before the database file is replaced)."""
    with _lock:
        conns = [c for idle in _idle.values() for c in idle]
        _idle.clear()
        _wal_set.clear()
    for conn in conns:
        conn.close()
