"""Webhook delivery end to end: PostgreSQL + Redis + a real Celery worker + a real HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta

import pytest
from django.db import transaction

from ccp.events import services
from ccp.events.choices import DeliveryStatus
from ccp.events.models import Delivery, DeliveryAttempt, Event
from ccp.events.services import event_publish
from ccp.events.tasks import events_sweep_task

from .conftest import Receiver, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def subscribe(api, url, event_types=("*",)) -> dict:
    response = api.post("/api/v1/subscriptions/", {"url": url, "event_types": list(event_types)}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def publish(tenant, partner, n, type_="message.created"):
    with transaction.atomic():
        return event_publish(tenant=tenant, partner=partner, type=type_, data={"n": n})


def deliveries(api, subscription_id) -> list[dict]:
    response = api.get(f"/api/v1/subscriptions/{subscription_id}/deliveries/")
    assert response.status_code == 200, response.content
    return response.json()["deliveries"]


def test_deliveries_are_signed_with_the_documented_algorithm(api, tenant, partner, receiver, celery_worker):
    sub = subscribe(api, receiver.url)
    event = publish(tenant, partner, 1)

    request = wait_for(lambda: receiver.succeeded(), what="the delivery")[0]
    headers, body = request["headers"], request["body"]
    expected = hmac.new(
        sub["secret"].encode(), headers["CCP-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["CCP-Signature"] == f"v1={expected}"
    envelope = json.loads(body)
    event.refresh_from_db()
    assert headers["CCP-Event-Id"] == str(event.replay_id) == str(envelope["id"])
    assert envelope["type"] == "message.created" and envelope["data"] == {"n": 1}
    assert headers["Content-Type"] == "application/json"
    wrong = hmac.new(b"another secret", headers["CCP-Timestamp"].encode() + b"." + body, hashlib.sha256)
    assert headers["CCP-Signature"] != f"v1={wrong.hexdigest()}"


def test_a_receiver_failing_twice_then_succeeding_shows_three_attempts_and_one_success(
    api, tenant, partner, receiver, celery_worker
):
    receiver.plan = [500, 503]
    sub = subscribe(api, receiver.url)
    publish(tenant, partner, 1)

    listed = wait_for(lambda: [d for d in deliveries(api, sub["id"]) if d["status"] == "delivered"], what="delivered")[
        0
    ]
    assert [a["status_code"] for a in listed["attempts"]] == [500, 503, 200]
    assert [a["succeeded"] for a in listed["attempts"]] == [False, False, True]
    assert listed["attempts"][0]["error"] == "HTTP 500" and listed["attempts"][2]["error"] == ""
    assert all(a["latency_ms"] >= 0 for a in listed["attempts"])
    assert listed["attempt_count"] == 3 and listed["delivered_at"]
    assert len(receiver.received) == 3


def test_a_receiver_down_for_a_while_receives_everything_after_it_comes_back(
    api, tenant, partner, receiver, celery_worker
):
    sub = subscribe(api, receiver.url)
    port = receiver.port
    receiver.stop()  # connection refused from now on
    events = [publish(tenant, partner, n) for n in range(10)]
    wait_for(
        lambda: (
            DeliveryAttempt.objects.filter(delivery__subscription_id=sub["id"]).values("delivery").distinct().count()
            == 10
            and not DeliveryAttempt.objects.filter(succeeded=True).exists()
        ),
        what="every delivery to fail at least once",
    )
    refused = DeliveryAttempt.objects.first()
    assert refused.status_code is None and refused.error.startswith("connection error")

    back = Receiver(port=port).start()
    try:
        for e in events:
            e.refresh_from_db()
        wait_for(lambda: back.event_ids() == {e.replay_id for e in events}, what="all events after restart")
        wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 10, what="statuses")
    finally:
        back.stop()


def test_a_dead_letter_can_be_redelivered(api, tenant, partner, receiver, celery_worker, settings):
    settings.EVENTS_DELIVERY_RETRY_WINDOW = timedelta(seconds=0)  # the first failure is final
    receiver.plan = [500]
    sub = subscribe(api, receiver.url)
    publish(tenant, partner, 1)
    dead = wait_for(lambda: [d for d in deliveries(api, sub["id"]) if d["status"] == "dead"], what="a dead letter")[0]
    assert len(dead["attempts"]) == 1

    response = api.post(f"/api/v1/subscriptions/{sub['id']}/deliveries/{dead['id']}/redeliver/")
    assert response.status_code == 202, response.content
    again = wait_for(lambda: [d for d in deliveries(api, sub["id"]) if d["status"] == "delivered"], what="redelivery")[
        0
    ]
    assert [a["status_code"] for a in again["attempts"]] == [500, 200]

    # a delivered event can be redelivered too
    response = api.post(f"/api/v1/subscriptions/{sub['id']}/deliveries/{dead['id']}/redeliver/")
    assert response.status_code == 202
    wait_for(lambda: len(receiver.received) == 3, what="the second redelivery")


def test_a_hanging_partner_endpoint_does_not_block_another_partner(
    api, other_api, tenant, partner, other_partner, receiver_factory, celery_worker
):
    slow, fast = receiver_factory(), receiver_factory()
    slow.hold = threading.Event()
    subscribe(api, slow.url)
    subscribe(other_api, fast.url)
    try:
        for n in range(3):
            publish(tenant, partner, n)
        # at most EVENTS_DELIVERY_PARTNER_CONCURRENCY (2) attempts of one partner at once
        wait_for(lambda: slow.arrived == 2, what="the slow endpoint to hold two requests")
        publish(tenant, other_partner, "fast")
        wait_for(lambda: len(fast.succeeded()) == 1, what="the other partner's delivery")
        assert not slow.succeeded()  # still hanging while the other partner was served
        assert slow.arrived == 2  # the third waits for a slot instead of taking a third worker thread
    finally:
        slow.hold.set()
    wait_for(lambda: len(slow.succeeded()) == 3, what="the slow partner, once released")


def test_a_killed_worker_and_lost_fan_outs_lose_nothing(api, tenant, partner, receiver, celery_worker):
    subscribe(api, receiver.url)
    first = [publish(tenant, partner, n) for n in range(5)]
    wait_for(lambda: len(receiver.event_ids()) == 5, what="the first events")

    celery_worker.stop()  # the worker dies mid-stream
    during = [publish(tenant, partner, n) for n in range(5, 10)]
    # Commits whose on-commit fan-out never ran (the web process died right after COMMIT).
    lost = []
    for n in range(10, 15):
        with transaction.atomic():
            lost.append(event_publish(tenant=tenant, partner=partner, type="message.created", data={"n": n}))
            transaction.get_connection().run_on_commit = []
    assert Event.objects.filter(replay_id__isnull=True).count() == 5

    celery_worker.start()
    events_sweep_task.delay()  # what Celery beat runs every EVENTS_SWEEP_INTERVAL_SECONDS

    every = first + during + lost
    wait_for(lambda: Event.objects.filter(replay_id__isnull=True).count() == 0, what="the sweep")
    ids = {Event.objects.get(pk=e.pk).replay_id for e in every}
    wait_for(lambda: receiver.event_ids() == ids, what="every event after the restart")
    assert sorted(json.loads(r["body"])["data"]["n"] for r in receiver.succeeded()) == list(range(15))


def test_sweep_requeues_deliveries_whose_task_was_lost(tenant, partner, receiver, celery_worker):
    services.subscription_create(partner=partner, url=receiver.url, event_types=["*"])
    with transaction.atomic():
        event = event_publish(tenant=tenant, partner=partner, type="work.closed", data={})
        transaction.get_connection().run_on_commit = []
    services.event_assign_replay_ids(event_pks=[event.pk])
    with transaction.atomic():  # relay, but drop the enqueue of the first attempt
        services.event_relay(event_pks=[event.pk])
        transaction.get_connection().run_on_commit = []
    assert Delivery.objects.get().attempt_count == 0
    events_sweep_task.delay()
    wait_for(
        lambda: Delivery.objects.filter(status=DeliveryStatus.DELIVERED).exists(),
        what="the requeued delivery",
    )
    assert len(receiver.succeeded()) == 1


def test_a_worker_killed_with_deliveries_in_flight_loses_nothing(
    api, tenant, partner, receiver, worker_process, settings
):
    settings.EVENTS_DELIVERY_CLAIM_SECONDS = 2
    subscribe(api, receiver.url)
    receiver.hold = threading.Event()  # the partner accepts requests but does not answer yet
    worker = worker_process()
    before = [publish(tenant, partner, n) for n in range(6)]
    wait_for(lambda: receiver.arrived >= 3, what="deliveries in flight")

    worker.kill()  # SIGKILL: no shutdown, unacked messages, claimed deliveries
    worker.wait(timeout=20)
    in_flight = receiver.arrived
    after = [publish(tenant, partner, n) for n in range(6, 10)]  # while no worker runs
    receiver.hold.set()  # its answers now go to a dead process

    worker_process()  # the restart
    everything = {Event.objects.get(pk=e.pk).replay_id for e in before + after}

    def all_delivered():
        events_sweep_task.delay()  # what Celery beat does every EVENTS_SWEEP_INTERVAL_SECONDS
        return Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 10

    wait_for(all_delivered, timeout=60, interval=1, what="every delivery after the restart")
    assert receiver.event_ids() == everything
    ids = [json.loads(r["body"])["id"] for r in receiver.succeeded()]
    resent = {i for i in ids if ids.count(i) > 1}
    assert len(resent) >= 1 and len(resent) <= in_flight  # what was cut off was sent again (at least once)
