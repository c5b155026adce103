"""`manage.py ccp_serve`: the production topology (gunicorn for REST, daphne for websockets and SSE,
Celery with beat) that docs/serving.md puts behind one proxy port — started for real here, forked
from one loaded process (ccp.serving.node, the default) and as separate programs (`--no-fork`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import requests
from django.conf import settings
from django.db import connection
from websockets.sync.client import connect as ws_connect

from tests.servers import ROOT, free_port, stop_process, wait_for
from tests.servers import test_database_url as database_url  # not collected as a test

APPLICATION_NAME = "ccp-test-serve"  # the served processes' database connections


def _env(**extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DATABASE_URL": database_url(APPLICATION_NAME),
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


def _start(tmp_path, *args: str):
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 — closed by the caller
    process = subprocess.Popen(
        [sys.executable, "manage.py", "ccp_serve", *args], cwd=ROOT, env=_env(), stdout=log, stderr=log
    )
    return process, log


def _answers(process, port, tmp_path) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=5).status_code == 200
    except requests.ConnectionError:
        assert process.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
        return False


def _server_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APPLICATION_NAME])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["forked", "no-fork"])
def test_ccp_serve_serves_rest_on_gunicorn_and_websockets_on_daphne(tmp_path, mode):
    rest_port, ws_port = free_port(), free_port()
    args = ["--no-worker", "--rest-workers", "1", "--rest-threads", "2"]  # the worker: the next test
    args += ["--rest-port", str(rest_port), "--ws-port", str(ws_port)] + (["--no-fork"] if mode == "no-fork" else [])
    process, log = _start(tmp_path, *args)
    try:
        wait_for(lambda: _answers(process, rest_port, tmp_path), timeout=120, what="gunicorn to answer")
        wait_for(lambda: _answers(process, ws_port, tmp_path), timeout=120, what="daphne to answer")
        children = psutil.Process(process.pid).children(recursive=True)
        direct = psutil.Process(process.pid).children()
        if mode == "forked":
            # forked from ccp_serve, which loaded the app: no new program, each named for its server
            assert {p.name() for p in direct} == {"ccp-rest", "ccp-ws"}, [p.name() for p in direct]
            assert all(p.cmdline() == psutil.Process(process.pid).cmdline() for p in direct)
        else:
            cmdlines = [" ".join(p.cmdline()) for p in children]
            assert any("-m gunicorn" in c for c in cmdlines) and any("-m daphne" in c for c in cmdlines), cmdlines
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
        # gunicorn got DB_CONN_MAX_AGE=60 (ccp.serving.REST_ENV) even though ccp_serve read its settings
        # without it: after a request that reads the database its thread keeps the connection
        for _ in range(3):
            refused = requests.post(
                f"http://127.0.0.1:{rest_port}/o/token/",
                data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
                timeout=30,
            )
            assert refused.status_code == 401, refused.text[:300]
        time.sleep(1)
        assert 1 <= _server_connections() <= 2  # two gunicorn threads at most; daphne keeps none
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        _gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        stop_process(process)
        log.close()


@pytest.mark.django_db(transaction=True)
def test_ccp_serve_forks_a_celery_worker_and_stops_everything_when_one_server_dies(tmp_path):
    rest_port, ws_port = free_port(), free_port()
    process, log = _start(
        tmp_path, "--rest-workers", "1", "--rest-port", str(rest_port), "--ws-port", str(ws_port), "--no-beat"
    )
    try:
        wait_for(lambda: _answers(process, rest_port, tmp_path), timeout=120, what="gunicorn to answer")
        direct = {p.name(): p for p in psutil.Process(process.pid).children()}
        assert set(direct) == {"ccp-rest", "ccp-ws", "ccp-worker"}, list(direct)
        # the forked worker consumes the broker: it answers a ping over Redis
        from ccp.celery import app

        replies = wait_for(lambda: app.control.ping(timeout=2), timeout=120, what="the worker to answer a ping")
        assert len(replies) == 1 and "ok" in json.dumps(replies), replies
        children = psutil.Process(process.pid).children(recursive=True)
        direct["ccp-ws"].kill()  # daphne dies: ccp_serve says so, stops the others and fails
        assert process.wait(timeout=60) == 1
        _gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [p.cmdline() for p in alive]
        assert "ws exited with code -9; stopping everything." in (tmp_path / "serve.log").read_text(errors="replace")
    finally:
        stop_process(process)
        log.close()


def test_every_per_server_variable_reaches_a_forked_server():
    """ccp.serving.node applies these itself in each child (ccp.settings is read once, in the parent): a new
    per-server variable in ccp.serving must be handled there too, or a forked server would ignore it."""
    from ccp import serving
    from ccp.serving import node

    assert set(serving.REST_ENV) | set(serving.WORKER_ENV) | set(serving.PROCESS_ENV) <= node.SETTINGS_FROM_ENV
