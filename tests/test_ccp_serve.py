"""`manage.py ccp_serve`: the production topology (gunicorn for REST, daphne for websockets and SSE,
Celery with beat) that docs/serving.md puts behind one proxy port — started for real here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import psutil
import pytest
import requests
from django.conf import settings
from websockets.sync.client import connect as ws_connect

from tests.servers import ROOT, free_port, stop_process, wait_for
from tests.servers import test_database_url as database_url  # not collected as a test


def _env(**extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DATABASE_URL": database_url("ccp-test-serve"),
        "REDIS_URL": settings.REDIS_URL,
        "LOG_LEVEL": "WARNING",
        "PASSWORD_HASHERS": ",".join(settings.PASSWORD_HASHERS),
        **extra,
    }


def _serve(*args: str, env: dict[str, str], **kwargs):
    return subprocess.run(
        [sys.executable, "manage.py", "ccp_serve", *args], cwd=ROOT, env=env, capture_output=True, text=True, **kwargs
    )


def test_ccp_serve_refuses_the_embedded_default_with_a_sentence(tmp_path):
    done = _serve(
        "--print", env=_env(DATABASE_URL="", REDIS_URL="", SQLITE_PATH=str(tmp_path / "x.sqlite3")), timeout=120
    )
    assert done.returncode != 0
    assert "needs DATABASE_URL" in done.stderr and "make run" in done.stderr
    assert "Traceback" not in done.stderr


def test_ccp_serve_prints_the_measured_commands():
    done = _serve("--print", "--rest-workers", "3", "--rest-threads", "2", env=_env(), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(line.split(": ", 1) for line in done.stdout.strip().splitlines())
    assert set(lines) == {"rest", "ws", "worker"}
    assert "gunicorn ccp.wsgi:application" in lines["rest"] and "--preload" in lines["rest"]  # several workers
    assert "--workers 3" in lines["rest"] and "--threads 2" in lines["rest"]
    assert "daphne" in lines["ws"] and lines["ws"].endswith("ccp.asgi:application")
    assert "-P threads" in lines["worker"] and "--beat" in lines["worker"]
    assert lines["rest"].startswith("DB_CONN_MAX_AGE=60 ") and lines["worker"].startswith("CELERY_SKIP_CHECKS=1 ")
    no_beat = _serve("--print", "--no-beat", "--rest-workers", "1", env=_env(), timeout=120)
    assert "--beat" not in no_beat.stdout
    # one worker loads the app itself: a preloaded master would hold a second, mostly un-shared copy
    assert "--workers 1 " in no_beat.stdout and "--preload" not in no_beat.stdout


@pytest.mark.django_db(transaction=True)
def test_ccp_serve_serves_rest_on_gunicorn_and_websockets_on_daphne(tmp_path):
    rest_port, ws_port = free_port(), free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 — closed in finally
    process = subprocess.Popen(  # --no-worker: the Celery worker is the same command the bench and tests run
        [sys.executable, "manage.py", "ccp_serve", "--no-worker", "--rest-workers", "1", "--rest-threads", "2",
         "--rest-port", str(rest_port), "--ws-port", str(ws_port)],
        cwd=ROOT, env=_env(), stdout=log, stderr=log,
    )  # fmt: skip
    try:

        def answers(port):
            try:
                return requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=5).status_code == 200
            except requests.ConnectionError:
                assert process.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
                return False

        wait_for(lambda: answers(rest_port), timeout=120, what="gunicorn to answer")
        wait_for(lambda: answers(ws_port), timeout=120, what="daphne to answer")
        names = {p.name() for p in psutil.Process(process.pid).children(recursive=True)}
        cmdlines = [" ".join(p.cmdline()) for p in psutil.Process(process.pid).children(recursive=True)]
        assert any("gunicorn" in c for c in cmdlines) and any("daphne" in c for c in cmdlines), (names, cmdlines)
        # the websocket upgrades on daphne (no session: accepted, then closed with 4401)
        origin = f"http://127.0.0.1:{ws_port}"
        with ws_connect(f"ws://127.0.0.1:{ws_port}/ws/agent/", origin=origin, open_timeout=30) as socket:
            with pytest.raises(Exception) as closed:
                socket.recv(timeout=30)
            assert "4401" in str(closed.value)
        # REST answers JSON errors from gunicorn, as the API does anywhere
        unauthenticated = requests.get(f"http://127.0.0.1:{rest_port}/api/v1/agent/state/", timeout=30)
        assert unauthenticated.status_code in (401, 403)
        assert "error" in json.loads(unauthenticated.text)
        children = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        _gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        stop_process(process)
        log.close()
