"""Fixtures of the routing tests: the event-bus tests' real Celery worker, for dispatch and expiry tasks."""

import pytest
from celery.signals import task_postrun

from ccp.celery import app as celery_app
from tests.events.conftest import (
    WorkerControl,
    _close_db_connection,
    celery_worker,  # noqa: F401 — a real worker (threads) on this run's queue
)


@pytest.fixture
def idle_worker(transactional_db):
    """A real Celery worker on this run's (purged) queue that the test starts when it wants: after it
    queued tasks and counted them."""
    task_postrun.connect(_close_db_connection, weak=False)
    celery_app.control.purge()
    control = WorkerControl()
    yield control
    control.stop()
    celery_app.control.purge()  # what the stopping worker handed back (see celery_worker)
    task_postrun.disconnect(_close_db_connection)
