"""Idempotency-Key rows live 24 h: after that a key is free again, and the rows are pruned."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from ccp.core.models import IdempotencyKey
from ccp.core.services import idempotency_prune
from ccp.packages.models import Partner
from tests.servers import daphne_server

pytestmark = pytest.mark.urls("tests.core.urls")
PROBE = "/api/v1/test/probe/"


def _age(key: str, hours: float) -> None:
    IdempotencyKey.objects.filter(key=key).update(created_at=timezone.now() - timedelta(hours=hours))


@pytest.mark.django_db
def test_an_expired_key_is_neither_replayed_nor_a_conflict(api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "old-key"}
    assert api.post(PROBE, {"identifier": "first"}, format="json", **headers).status_code == 201
    _age("old-key", 23)
    replay = api.post(PROBE, {"identifier": "first"}, format="json", **headers)
    assert replay["Idempotent-Replayed"] == "true"  # still inside the 24 h
    _age("old-key", 25)
    again = api.post(PROBE, {"identifier": "second"}, format="json", **headers)  # another body: no 409
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert Partner.objects.filter(partner_identifier="second").exists()
    _age("old-key", 25)
    fresh = api.post(PROBE, {"identifier": "third"}, format="json", **headers)
    assert fresh.status_code == 201 and fresh.json()["count"] == 3  # ran, not answered from the old row


@pytest.mark.django_db
def test_prune_deletes_only_rows_older_than_the_ttl(api):
    for key in ("k-old-1", "k-old-2", "k-new"):
        assert api.post(PROBE, {"identifier": key}, format="json", HTTP_IDEMPOTENCY_KEY=key).status_code == 201
    _age("k-old-1", 24.1)
    _age("k-old-2", 100)
    _age("k-new", 23.9)
    assert idempotency_prune() == 2
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["k-new"]
    assert idempotency_prune() == 0


def test_prune_runs_hourly_under_celery_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["core-idempotency-prune"]
    assert entry["task"] == "core.idempotency_prune" and entry["schedule"] == timedelta(hours=1)
    from ccp.celery import app

    app.loader.import_default_modules()
    assert "core.idempotency_prune" in app.tasks


@pytest.mark.django_db(transaction=True)
def test_the_embedded_mode_prunes_in_process(api):
    """Without Celery beat (`ccp_up` on the embedded default) daphne's sweeper thread prunes."""
    assert api.post(PROBE, {"identifier": "emb"}, format="json", HTTP_IDEMPOTENCY_KEY="emb").status_code == 201
    _age("emb", 30)
    with daphne_server(CCP_INPROCESS_SWEEP="1", CCP_SWEEP_SECONDS="0.2"):
        deadline = time.monotonic() + 20
        while IdempotencyKey.objects.filter(key="emb").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    assert not IdempotencyKey.objects.filter(key="emb").exists()
