"""Browser fixtures: the real ASGI app under daphne on the test database, Debian's Chromium, helpers.

pytest-django's live_server speaks HTTP only; the workspace needs /ws/agent/, so daphne runs the app in
a subprocess against the same (transactional) test database and Redis. Its Celery tasks (offer and
ACW timers, event relay, webhook deliveries) go to this test run's own queue, consumed by the event-bus
tests' real worker (`celery_worker`), started for every browser test — the production topology.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings
from django.db import connection

from ccp.celery import app as celery_app
from tests.events.conftest import celery_worker  # noqa: F401 — the real worker of the event-bus tests
from tests.servers import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000


def _database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "postgres")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Daphne:
    """The ASGI app in a subprocess; `restart()` simulates a server restart on the same port."""

    def __init__(self, env: dict, log: Path):
        self.port = free_port()
        self.env = env
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "ccp.asgi:application"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.proc.returncode}; see {self.log}")
            try:
                if requests.get(self.url + "/accounts/login/", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"daphne did not answer on {self.url}; see {self.log}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=15)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        database_url = _database_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ccp.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "DB_CONN_MAX_AGE": "0",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_QUEUE": celery_app.conf.task_default_queue,  # this run's queue (tests/events/conftest.py)
        "WEBHOOK_ALLOW_LOOPBACK": "1",
        "PYTHONUNBUFFERED": "1",
        # new hashes as in production; the suite's fast MD5 hashes (client secrets) still verify
        "PASSWORD_HASHERS": "django.contrib.auth.hashers.PBKDF2PasswordHasher,"
        "django.contrib.auth.hashers.MD5PasswordHasher",
    }
    daphne = Daphne(env, tmp_path_factory.mktemp("daphne") / "daphne.log")
    daphne.start()
    yield daphne
    daphne.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the tests' own ORM calls are still
    # plain synchronous code, so Django's async-safety guard is lifted while the browser runs.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def _worker(celery_worker, settings):  # noqa: F811
    settings.WEBHOOK_ALLOW_LOOPBACK = True  # the worker delivers to receivers on 127.0.0.1
    settings.EVENTS_DELIVERY_BACKOFF_BASE_SECONDS = 0.05
    settings.EVENTS_DELIVERY_BACKOFF_MAX_SECONDS = 0.5


@pytest.fixture(autouse=True)
def _expect_timeout():
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)


def new_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB", timezone_id="Europe/Berlin")
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def log_in(page, server, username: str, password: str, *, shot: str | None = None) -> None:
    page.goto(server.url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    screenshot(page, shot)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server.url + "/agent/")


def screenshot(page, name: str | None) -> None:
    """Refresh docs/screenshots only when asked (CCP_SCREENSHOTS=1), so CI leaves the tree clean."""
    if name and os.environ.get("CCP_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


class Partner:
    """The partner's side over real HTTP to daphne, with a bearer token."""

    def __init__(self, server, token: str, channel_address_id: str):
        self.server = server
        self.channel = channel_address_id
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body: dict) -> dict:
        response = self.session.post(self.server.url + path, json=body, timeout=20)
        assert response.status_code in (200, 201, 202), (response.status_code, response.text[:500])
        return response.json()

    def get(self, path: str) -> dict:
        response = self.session.get(self.server.url + path, timeout=20)
        assert response.status_code == 200, (response.status_code, response.text[:500])
        return response.json()

    def interaction(self, *entries, sender="+4915112345", name="Ann") -> dict:
        return self.post(
            "/api/v1/interactions/", {"to": self.channel, "from": sender, "from_name": name, "entries": list(entries)}
        )
