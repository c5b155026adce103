"""Fixtures of the event bus tests: a real Celery worker, a real HTTP receiver, bounded waiting."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connection

from ccp.celery import app as celery_app
from tests.servers import wait_for  # noqa: F401 — re-exported for the event-bus tests

# A queue of our own for this test process, so no other run (or engineer) shares our messages.
celery_app.conf.task_default_queue = f"ccp-test-events-{os.getpid()}"


@pytest.fixture(scope="session", autouse=True)
def _drop_test_queue():
    yield
    celery_app.control.purge()  # leave nothing of this run in Redis


@pytest.fixture(autouse=True)
def _events_settings(settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True  # receivers listen on 127.0.0.1
    settings.EVENTS_DELIVERY_BACKOFF_BASE_SECONDS = 0.05
    settings.EVENTS_DELIVERY_BACKOFF_MAX_SECONDS = 0.5
    settings.EVENTS_SWEEP_GRACE_SECONDS = 0
    # These tests exercise the bus itself with stand-in payloads ({"n": 1}); the domain's payloads are
    # checked against their declarations everywhere else (tests/conftest.py, test_payloads.py).
    settings.EVENTS_VALIDATE_PAYLOADS = False


class Receiver:
    """A partner's webhook endpoint: a real HTTP server on 127.0.0.1 that records what it gets.

    `plan` lists status codes to answer first (then 200); `hold` makes requests wait until released.
    """

    def __init__(self, port: int = 0):
        self.port = port
        self.received: list[dict] = []
        self.plan: list[int] = []
        self.hold: threading.Event | None = None
        self.arrived = 0  # requests that reached the handler, including ones still held
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.arrived += 1
                if receiver.hold is not None:
                    receiver.hold.wait(timeout=30)
                with receiver.lock:
                    status = receiver.plan.pop(0) if receiver.plan else 200
                    receiver.received.append({"headers": dict(self.headers.items()), "body": body, "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def succeeded(self) -> list[dict]:
        with self.lock:
            return [r for r in self.received if 200 <= r["status"] < 300]

    def event_ids(self) -> set[int]:
        return {json.loads(r["body"])["id"] for r in self.succeeded()}


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def receiver_factory():
    made: list[Receiver] = []

    def make() -> Receiver:
        made.append(Receiver().start())
        return made[-1]

    yield make
    for r in made:
        r.stop()


def _close_db_connection(**kwargs):
    connection.close()  # worker threads must not keep connections to the test database


class WorkerControl:
    """Start and stop a real Celery worker (threads pool) consuming this test run's queue."""

    def __init__(self):
        self._cm = None

    def start(self) -> None:
        assert self._cm is None
        self._cm = start_worker(
            celery_app,
            pool="threads",
            concurrency=4,
            perform_ping_check=False,
            shutdown_timeout=20,
            loglevel="WARNING",
        )
        self._cm.__enter__()

    def stop(self) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            cm.__exit__(None, None, None)


@pytest.fixture
def celery_worker(transactional_db):
    task_postrun.connect(_close_db_connection, weak=False)
    celery_app.control.purge()
    control = WorkerControl()
    control.start()
    yield control
    control.stop()
    # A stopping worker puts its unacknowledged messages (timers with a countdown) back on the queue;
    # left there, the next test's worker would run them against that test's database.
    celery_app.control.purge()
    task_postrun.disconnect(_close_db_connection)


@pytest.fixture
def worker_process(transactional_db):
    """Start real `celery worker` processes on the test database and this run's queue (so a test can
    SIGKILL one). Claims expire after 2 s so the sweep can take over a killed worker's deliveries."""
    import subprocess
    import sys
    from pathlib import Path

    from django.conf import settings

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_QUEUE": celery_app.conf.task_default_queue,
        "EVENTS_DELIVERY_CLAIM_SECONDS": "2",
        "EVENTS_SWEEP_GRACE_SECONDS": "0",
        "EVENTS_DELIVERY_BACKOFF_BASE_SECONDS": "0.05",
        "EVENTS_DELIVERY_BACKOFF_MAX_SECONDS": "0.5",
        "WEBHOOK_ALLOW_LOOPBACK": "1",
        "LOG_LEVEL": "WARNING",
    }
    processes: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        command = [sys.executable, "-m", "celery", "-A", "ccp.celery", "worker", "-P", "threads", "-c", "4"]
        command += ["-Q", celery_app.conf.task_default_queue, "--without-gossip", "--without-mingle"]
        command += ["--without-heartbeat", "-l", "WARNING"]
        process = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[2], env=env, stdout=subprocess.DEVNULL)
        processes.append(process)
        return process

    celery_app.control.purge()
    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=20)
