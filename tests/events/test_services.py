"""The publishing service: validation, outbox on commit, replay-id ordering, sweep and pruning."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

from ccp.core.errors import Invalid
from ccp.events import selectors, services
from ccp.events.choices import STANDARD_EVENT_TYPES
from ccp.events.models import Delivery, Event, ReplayWatermark
from ccp.events.services import event_publish
from tests.factories import MembershipFactory

ACME_OUTBOUND = {
    "channel_address_id": {"type": "string"},
    "recipient": {"type": "string"},
    "payload": {"type": "object"},
}


def test_unknown_type_without_schema_is_refused(tenant):
    with pytest.raises(Invalid) as info:
        event_publish(tenant=tenant, type="conversation.exploded", data={})
    assert info.value.code == "unknown_event_type"
    assert not Event.objects.exists()


def test_custom_type_is_validated_against_its_schema_before_it_is_stored(tenant, partner):
    with pytest.raises(Invalid) as info:
        event_publish(
            tenant=tenant,
            partner=partner,
            type="AcmeOutbound__e",
            data={"recipient": 42, "payload": {}},
            schema=ACME_OUTBOUND,
        )
    assert info.value.code == "invalid_event_data"
    assert "recipient" in info.value.details
    assert not Event.objects.exists()

    event = event_publish(
        tenant=tenant,
        partner=partner,
        type="AcmeOutbound__e",
        data={"recipient": "+4917", "payload": {"text": "hi"}, "channel_address_id": "wa-1"},
        schema=ACME_OUTBOUND,
    )
    assert Event.objects.get().pk == event.pk


def test_every_standard_type_has_a_description():
    assert len(STANDARD_EVENT_TYPES) >= 26  # 19 of messaging and routing, 7 of voice calls
    assert {"call.created", "call.state_changed", "call.ended", "transcript.segment"} <= STANDARD_EVENT_TYPES.keys()
    assert all(d.endswith(".") for d in STANDARD_EVENT_TYPES.values())


def test_commit_numbers_the_event_and_pushes_it_to_its_agents(
    tenant, partner, agent, django_capture_on_commit_callbacks
):
    other_agent = MembershipFactory(tenant=tenant)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    other_channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"agent.{agent.id}", channel)
    async_to_sync(layer.group_add)(f"agent.{other_agent.id}", other_channel)
    with django_capture_on_commit_callbacks(execute=True):
        event = event_publish(
            tenant=tenant,
            partner=partner,
            type="message.created",
            data={"direction": "inbound", "text": "hi"},
            agent_ids=[agent.id],
        )
        assert event.replay_id is None  # nothing is numbered before the commit

    event.refresh_from_db()
    assert event.replay_id is not None
    message = async_to_sync(_receive)(layer, channel)
    assert message == {
        "type": "ccp.event",
        "event": {
            "id": event.replay_id,
            "type": "message.created",
            "tenant": "acme",
            "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
            "data": {"direction": "inbound", "text": "hi"},
        },
    }
    assert async_to_sync(_receive)(layer, other_channel, timeout=0.3) is None  # not an agent concerned


async def _receive(layer, channel, timeout=5.0):
    try:
        return await asyncio.wait_for(layer.receive(channel), timeout)
    except TimeoutError:
        return None


def test_a_rolled_back_transaction_publishes_nothing(tenant, partner, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        event_publish(tenant=tenant, partner=partner, type="typing.started", data={})
        raise RuntimeError("boom")
    assert callbacks == []  # no fan-out was scheduled
    assert not Event.objects.exists()


def test_the_sweep_numbers_and_relays_events_whose_fan_out_was_lost(tenant, partner, settings):
    subscription, _ = services.subscription_create(partner=partner, url="https://example.com/h", event_types=["*"])
    event = event_publish(tenant=tenant, partner=partner, type="conversation.created", data={"id": "c1"})
    # The test transaction never commits, so the on-commit fan-out never runs: as after a crash.
    assert Event.objects.get(pk=event.pk).replay_id is None
    assert selectors.event_page(partner=partner, after=0, limit=10) == []

    result = services.events_sweep()

    event.refresh_from_db()
    assert result["numbered"] == 1
    assert event.replay_id is not None and event.relayed_at is not None
    assert [e.pk for e in selectors.event_page(partner=partner, after=0, limit=10)] == [event.pk]
    assert Delivery.objects.filter(subscription=subscription, event=event).count() == 1
    assert services.events_sweep()["numbered"] == 0  # idempotent
    assert Delivery.objects.count() == 1


def test_prune_removes_old_events_and_raises_the_watermark(tenant, partner, settings):
    old = event_publish(tenant=tenant, partner=partner, type="typing.started", data={})
    new = event_publish(tenant=tenant, partner=partner, type="typing.stopped", data={})
    services.event_fan_out(event_pks=[old.pk, new.pk])
    Event.objects.filter(pk=old.pk).update(occurred_at=timezone.now() - timedelta(hours=73))
    old.refresh_from_db()

    assert services.events_prune() == 1
    assert ReplayWatermark.objects.get().pruned_through == old.replay_id
    assert list(Event.objects.values_list("pk", flat=True)) == [new.pk]


def _publish_in_thread(tenant, partner, started: threading.Event, release: threading.Event, out: list):
    try:
        with transaction.atomic():
            out.append(event_publish(tenant=tenant, partner=partner, type="work.offered", data={"who": "A"}))
            started.set()
            release.wait(timeout=20)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_an_event_inserted_first_but_committed_last_is_not_skipped_by_a_cursor(tenant, partner):
    started, release, out = threading.Event(), threading.Event(), []
    slow = threading.Thread(target=_publish_in_thread, args=(tenant, partner, started, release, out))
    slow.start()
    assert started.wait(timeout=20)
    with transaction.atomic():  # inserted after A, commits before A
        event_publish(tenant=tenant, partner=partner, type="work.offered", data={"who": "B"})
    first = selectors.event_page(partner=partner, after=0, limit=10)
    assert [e.data["who"] for e in first] == ["B"]
    cursor = first[-1].replay_id

    release.set()
    slow.join(timeout=20)

    second = selectors.event_page(partner=partner, after=cursor, limit=10)
    assert [e.data["who"] for e in second] == ["A"]
    assert out[0].pk < first[0].pk and second[0].replay_id > cursor


@pytest.mark.django_db(transaction=True)
def test_a_reader_paging_during_1000_concurrent_publishes_sees_exactly_the_committed_events_once(
    tenant, partner, other_partner, api
):
    committed: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    per_thread = 50

    def writer(n: int):
        rng = random.Random(n)
        try:
            i = 0
            while i < per_thread:
                batch = [f"{n}-{j}" for j in range(i, min(per_thread, i + rng.randint(1, 5)))]
                i += len(batch)
                rollback = rng.random() < 0.2
                try:
                    with transaction.atomic():
                        for marker in batch:
                            audience = other_partner if rng.random() < 0.1 else partner
                            event_publish(tenant=tenant, partner=audience, type="message.created", data={"m": marker})
                            if audience is other_partner:
                                batch = [b for b in batch if b != marker]
                        # hold the transaction open a little, so commits interleave out of insert order
                        threading.Event().wait(rng.random() * 0.02)
                        if rollback:
                            raise _Rollback
                except _Rollback:
                    continue
                with lock:
                    committed.extend(batch)
        except BaseException as exc:  # pragma: no cover — surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()

    seen: list[str] = []
    ids: list[int] = []
    after = 0

    def read_page() -> int:
        nonlocal after
        response = api.get(f"/api/v1/events/?after={after}&limit=37")
        assert response.status_code == 200, response.content
        body = response.json()
        for envelope in body["events"]:
            ids.append(envelope["id"])
            seen.append(envelope["data"]["m"])
        after = body["next_after"]
        return len(body["events"])

    while any(t.is_alive() for t in threads):
        read_page()
    for t in threads:
        t.join()
    while read_page():
        pass

    assert not errors, errors
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert len(seen) == len(set(seen)), "an event was read twice"
    assert sorted(seen) == sorted(committed)
    assert 0 < len(committed) < 1000  # some transactions rolled back, some events went to another partner


class _Rollback(Exception):
    pass


def test_a_custom_type_needs_the_custom_name_pattern(tenant, partner):
    with pytest.raises(Invalid) as info:
        event_publish(tenant=tenant, partner=partner, type="acme outbound", data={}, schema=ACME_OUTBOUND)
    assert info.value.code == "unknown_event_type"


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap(settings):
    settings.EVENTS_DELIVERY_BACKOFF_BASE_SECONDS = 10
    settings.EVENTS_DELIVERY_BACKOFF_MAX_SECONDS = 3600
    for n in range(1, 40):
        ceiling = min(3600, 10 * 2 ** (n - 1))
        delays = {services.retry_delay(n) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


def test_failures_retry_until_the_24_hour_window_has_passed_then_become_dead(tenant, partner, receiver, settings):
    settings.EVENTS_DELIVERY_RETRY_WINDOW = timedelta(hours=24)
    settings.EVENTS_DELIVERY_BACKOFF_BASE_SECONDS = 10
    settings.EVENTS_DELIVERY_BACKOFF_MAX_SECONDS = 3600
    receiver.plan = [500, 502, 504]
    services.subscription_create(partner=partner, url=receiver.url, event_types=["*"])
    event = event_publish(tenant=tenant, partner=partner, type="work.closed", data={})
    services.event_fan_out(event_pks=[event.pk])
    (delivery_id,) = services.event_relay(event_pks=[event.pk])

    first = services.delivery_attempt(delivery_id=delivery_id)
    assert first.status == "retrying"
    wait = (first.next_attempt_at - timezone.now()).total_seconds()
    assert 3 <= wait <= 10
    assert services.delivery_attempt(delivery_id=delivery_id) is None  # not due yet: nothing is sent

    now = timezone.now()  # fast-forward: it has been failing for 23 hours
    Delivery.objects.filter(pk=delivery_id).update(window_started_at=now - timedelta(hours=23), next_attempt_at=now)
    assert services.delivery_attempt(delivery_id=delivery_id).status == "retrying"

    Delivery.objects.filter(pk=delivery_id).update(
        window_started_at=now - timedelta(hours=24, seconds=1), next_attempt_at=now
    )
    dead = services.delivery_attempt(delivery_id=delivery_id)
    assert dead.status == "dead" and dead.attempt_count == 3
    assert [a.status_code for a in dead.attempts.all()] == [500, 502, 504]
    assert len(receiver.received) == 3


def test_a_delivery_to_an_address_that_became_private_is_refused_not_sent(tenant, partner, receiver, settings):
    services.subscription_create(partner=partner, url=receiver.url, event_types=["*"])
    event = event_publish(tenant=tenant, partner=partner, type="work.closed", data={})
    services.event_fan_out(event_pks=[event.pk])
    (delivery_id,) = services.event_relay(event_pks=[event.pk])
    settings.WEBHOOK_ALLOW_LOOPBACK = False

    delivery = services.delivery_attempt(delivery_id=delivery_id)

    attempt = delivery.attempts.get()
    assert attempt.status_code is None and attempt.error.startswith("refused:")
    assert receiver.received == []


def test_agent_ids_must_be_members_of_the_events_tenant(tenant, other_tenant, agent):
    foreign = MembershipFactory(tenant=other_tenant)
    for agent_ids, bad in [([agent.id, foreign.id], [str(foreign.id)]), (["not-a-uuid"], None)]:
        with pytest.raises(Invalid) as info:
            event_publish(tenant=tenant, type="work.offered", data={}, agent_ids=agent_ids)
        assert info.value.code == "invalid_agent_ids"
        if bad:
            assert info.value.details["agent_ids"] == bad
    assert not Event.objects.exists()
    event = event_publish(tenant=tenant, type="work.offered", data={}, agent_ids=[agent.id, str(agent.id)])
    assert event.agent_ids == [str(agent.id)]


def test_partner_events_nobody_subscribed_to_are_settled_at_numbering_without_a_relay(
    tenant, partner, django_capture_on_commit_callbacks
):
    services.subscription_create(partner=partner, url="https://example.com/h", event_types=["conversation.created"])
    with django_capture_on_commit_callbacks(execute=True):
        unwanted = event_publish(tenant=tenant, partner=partner, type="message.created", data={"text": "hi"})
        wanted = event_publish(tenant=tenant, partner=partner, type="conversation.created", data={"id": "c1"})

    unwanted.refresh_from_db()
    wanted.refresh_from_db()
    assert unwanted.replay_id is not None and wanted.replay_id == unwanted.replay_id + 1
    assert unwanted.relayed_at is not None  # settled: the relay and the sweep leave it alone
    assert wanted.relayed_at is None  # its relay task is queued (no worker runs in this test)
    assert services.event_relay(event_pks=[unwanted.pk, wanted.pk]) != []
    assert list(Delivery.objects.values_list("event_id", flat=True)) == [wanted.pk]
    # Replay still has both: a subscription decides webhooks, not what the partner may read.
    assert [e.pk for e in selectors.event_page(partner=partner, after=0, limit=10)] == [unwanted.pk, wanted.pk]


def test_the_relay_task_makes_the_first_attempts_itself(tenant, partner, receiver, django_capture_on_commit_callbacks):
    from ccp.events.tasks import events_relay_task

    services.subscription_create(partner=partner, url=receiver.url, event_types=["*"])
    with django_capture_on_commit_callbacks(execute=True):
        events = [event_publish(tenant=tenant, partner=partner, type="work.closed", data={"n": n}) for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        events_relay_task([e.pk for e in events])  # the task's body, in this process; no worker runs

    deliveries = list(Delivery.objects.order_by("event_id"))
    assert [d.status for d in deliveries] == ["delivered"] * 3
    assert [d.attempt_count for d in deliveries] == [1, 1, 1]
    assert [json.loads(r["body"])["data"]["n"] for r in receiver.succeeded()] == [0, 1, 2]  # in event order


def test_pushes_from_many_transactions_reach_an_agent_once_each_in_commit_order(
    tenant, agent, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"agent.{agent.id}", channel)
    published = []
    for n in range(60):
        with django_capture_on_commit_callbacks(execute=True):
            published.append(
                event_publish(tenant=tenant, type="typing.started", data={"n": n}, agent_ids=[agent.id]).pk
            )

    async def drain():
        got = []
        while len(got) < 61:  # one more than sent: proves there is no duplicate
            message = await _receive(layer, channel, timeout=3.0 if len(got) < 60 else 0.3)
            if message is None:
                break
            got.append(message["event"])
        return got

    got = async_to_sync(drain)()
    assert [e["data"]["n"] for e in got] == list(range(60))
    ids = [e["id"] for e in got]
    assert ids == sorted(ids) and len(set(ids)) == 60
