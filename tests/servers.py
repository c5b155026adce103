"""Real servers for tests: the platform under daphne on the test database, free ports, bounded waits."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
SERVER_APPLICATION_NAME = "ccp-test-daphne"


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.05, what: str = "a condition"):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def daphne_server(**extra_env: str) -> Iterator[str]:
    """daphne serving ccp.asgi (HTTP + websockets + SSE) on the test database; yields its base URL.

    Needs a transactional test (`django_db(transaction=True)`) so the server sees committed rows.
    """
    port = free_port()
    db = connection.settings_dict
    env = {
        **os.environ,
        # tagged so a test can tell the server's connections from its own and other tests'
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        f"?application_name={SERVER_APPLICATION_NAME}",
        "REDIS_URL": settings.REDIS_URL,
        "DB_CONN_MAX_AGE": "0",  # as deployed under ASGI (ccp/settings.py)
        "LOG_LEVEL": "WARNING",
        "PASSWORD_HASHERS": ",".join(settings.PASSWORD_HASHERS),  # verify secrets hashed by this process
        **extra_env,
    }
    # stderr goes to a file, not a pipe: a pipe nobody reads fills up and then blocks the server
    log = tempfile.NamedTemporaryFile(prefix="ccp-daphne-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "ccp.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            assert process.poll() is None, Path(log.name).read_text(errors="replace")[-2000:]
            return False

    try:
        wait_for(up, timeout=30, what="daphne to listen")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)
        log.close()
        if not os.environ.get("CCP_KEEP_SERVER_LOGS"):  # set it to read the servers' logs after a run
            os.unlink(log.name)


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """Terminate a server subprocess, killing it when it does not exit within `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
