"""Celery queues per concern (CELERY_QUEUES_PER_CONCERN, docs/deployment.md): every task has a concern,
and with the setting on a task goes to its concern's queue on the real Redis broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import redis
from django.conf import settings

from ccp.celery import app as celery_app
from tests.servers import ROOT

CONCERNS = {"webhooks", "routing", "sweeps", "training"}

SEND = """
import json, os, django
django.setup()
from ccp.celery import app
from ccp.events.tasks import events_relay_task
from conversations.tasks import sla_sweep_task
from routing.tasks import routing_sweep_task, tuned_model_train_all_task
events_relay_task.apply_async(args=[[]], countdown=3600)  # queued, never run: nobody consumes these queues
for task in (routing_sweep_task, sla_sweep_task, tuned_model_train_all_task):
    task.apply_async(countdown=3600)
print(json.dumps(sorted(app.conf.task_routes)))
"""


def test_every_task_belongs_to_a_concern():
    celery_app.loader.import_default_modules()
    tasks = {name for name in celery_app.tasks if not name.startswith("celery.")}
    assert tasks == set(settings.CELERY_TASK_CONCERNS), "add the task to CELERY_TASK_CONCERNS in ccp/settings.py"
    assert set(settings.CELERY_TASK_CONCERNS.values()) == CONCERNS


def test_by_default_one_queue_takes_everything():
    assert settings.CELERY_TASK_ROUTES == {}


def test_with_queues_per_concern_each_task_goes_to_its_concerns_queue():
    base = f"ccp-test-routes-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(settings.REDIS_URL)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_QUEUE": base,
        "CELERY_QUEUES_PER_CONCERN": "1",
    }
    try:
        out = subprocess.run([sys.executable, "-c", SEND], cwd=ROOT, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-3000:]
        assert set(json.loads(out.stdout.strip().splitlines()[-1])) == set(settings.CELERY_TASK_CONCERNS)
        assert {concern: client.llen(f"{base}.{concern}") for concern in sorted(CONCERNS)} == {
            "routing": 1,
            "sweeps": 1,
            "training": 1,
            "webhooks": 1,
        }
        assert client.llen(base) == 0
    finally:
        client.delete(base, *(f"{base}.{concern}" for concern in CONCERNS))
