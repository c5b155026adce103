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


def test_database_url(application_name: str = SERVER_APPLICATION_NAME) -> str:
    """This run's test database as a DATABASE_URL for a subprocess, its connections tagged with
    `application_name` so a test can tell them from its own and other tests'."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}?application_name={application_name}"


@contextlib.contextmanager
def daphne_server(
    *, log_path: Path | None = None, env: dict[str, str] | None = None, **extra_env: str
) -> Iterator[str]:
    """daphne serving ccp.asgi (HTTP + websockets + SSE) on the test database; yields its base URL.

    Needs a transactional test (`django_db(transaction=True)`) so the server sees committed rows.
    Its output goes to `log_path` when given (kept), else to a temporary file removed afterwards —
    a file, not a pipe: a pipe nobody reads fills up and then blocks the server mid-request.
    `env` replaces the whole environment (e.g. the embedded default's, without the test database).
    """
    port = free_port()
    env = (
        {**env, **extra_env}
        if env is not None
        else {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "DB_CONN_MAX_AGE": "0",  # as deployed under ASGI (ccp/settings.py)
            "LOG_LEVEL": "WARNING",
            "PASSWORD_HASHERS": ",".join(settings.PASSWORD_HASHERS),  # verify secrets hashed by this process
            **extra_env,
        }
    )
    keep = log_path is not None or bool(os.environ.get("CCP_KEEP_SERVER_LOGS"))  # set it to read the logs
    if log_path is None:
        log_path = Path(tempfile.NamedTemporaryFile(prefix="ccp-daphne-", suffix=".log", delete=False).name)  # noqa: SIM115
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "ccp.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )

    with _serving(process, port, log_path, keep=keep, name="daphne") as url:
        yield url


def _listening(port: int, process, log_path) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        assert process.poll() is None, Path(log_path).read_text(errors="replace")[-3000:]
        return False


@contextlib.contextmanager
def _serving(process, port: int, log_path, *, keep: bool, name: str) -> Iterator[str]:
    """Wait until the server `process` listens on `port` (its log in the failure if it exits first),
    yield its base URL, then stop it and drop its log unless `keep`."""

    def up():
        return _listening(port, process, log_path)

    try:
        wait_for(up, timeout=60, what=f"{name} to listen")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)
        if not keep:
            os.unlink(log_path)


@contextlib.contextmanager
def ccp_serve_node(
    *, rest_workers: int = 2, log_path: Path | None = None, **extra_env: str
) -> Iterator[tuple[str, str]]:
    """One node as production runs it: `manage.py ccp_serve` (gunicorn with `rest_workers` sync workers,
    daphne and a Celery worker without beat, forked from one process that loaded the app) on the test
    database; yields the REST and the websocket base URLs once both listen.

    Same environment and log handling as `daphne_server`; CELERY_QUEUE in `extra_env` picks the queue.
    """
    rest_port, ws_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DATABASE_URL": test_database_url("ccp-test-node"),
        "REDIS_URL": settings.REDIS_URL,
        "LOG_LEVEL": "WARNING",
        "PASSWORD_HASHERS": ",".join(settings.PASSWORD_HASHERS),
        **extra_env,
    }
    keep = log_path is not None or bool(os.environ.get("CCP_KEEP_SERVER_LOGS"))
    if log_path is None:
        log_path = Path(tempfile.NamedTemporaryFile(prefix="ccp-node-", suffix=".log", delete=False).name)  # noqa: SIM115
    command = [sys.executable, "manage.py", "ccp_serve", "--no-beat", "--rest-workers", str(rest_workers)]
    command += ["--rest-threads", "1", "--worker-concurrency", "2", "--rest-port", str(rest_port)]
    command += ["--ws-port", str(ws_port)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)

    with _serving(process, rest_port, log_path, keep=keep, name="ccp_serve") as rest:
        wait_for(lambda: _listening(ws_port, process, log_path), timeout=60, what="ccp_serve's daphne to listen")
        yield rest, f"http://127.0.0.1:{ws_port}"


def celery_worker_process(
    *, queue: str, env: dict[str, str] | None = None, concurrency: int = 2, log=subprocess.DEVNULL
) -> subprocess.Popen:
    """A real `celery worker` (threads pool) on the test database consuming `queue`; the caller stops
    it (`stop_process`) or kills it (a fault test)."""
    worker_env = {
        **os.environ,
        "DATABASE_URL": test_database_url("ccp-test-worker"),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_QUEUE": queue,
        "DB_CONN_MAX_AGE": "0",
        "PASSWORD_HASHERS": ",".join(settings.PASSWORD_HASHERS),
        **(env or {}),
    }
    command = [sys.executable, "-m", "celery", "-A", "ccp.celery", "worker", "-P", "threads", "-c", str(concurrency)]
    command += ["-Q", queue, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"]
    return subprocess.Popen(command, cwd=ROOT, env=worker_env, stdout=log, stderr=log)


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
