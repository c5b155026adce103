"""Without Redis (the embedded default) the live push is throttled in the process."""

from __future__ import annotations

import time

import pytest

from ccp.operations.services import realtime


@pytest.mark.django_db(transaction=True)
def test_one_pending_push_per_tenant(tenant, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.REPORTS_REALTIME_PUSH_SECONDS = 0.3
    assert realtime.realtime_push_request(tenant_id=tenant.pk) is True
    assert realtime.realtime_push_request(tenant_id=tenant.pk) is False  # covered by the pending push
    deadline = time.monotonic() + 5
    while str(tenant.pk) in realtime._pending and time.monotonic() < deadline:
        time.sleep(0.05)
    assert str(tenant.pk) not in realtime._pending
    time.sleep(0.3)  # the push finishes (and closes its connection) before the database goes
    assert realtime.realtime_push_request(tenant_id=tenant.pk) is True  # the next change schedules again
    time.sleep(0.8)
