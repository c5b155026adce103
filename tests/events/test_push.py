"""The agents' websocket push (ccp/events/services/push.py): the publisher thread sends batches in
order over the real Redis channel layer; a full backlog or a failed send leaves them to the sweep."""

import os

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.db import transaction
from django.utils import timezone

from ccp.core import redis_health
from ccp.events.models import Event
from ccp.events.services import push
from tests.factories import MembershipFactory
from tests.servers import free_port, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _redis_healthy():
    redis_health.redis_recovered()
    yield
    redis_health.redis_recovered()


def _listen(group: str):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return layer, channel


def _event(tenant, agent) -> Event:
    return Event.objects.create(
        tenant=tenant, type="typing.started", data={}, agent_ids=[str(agent.pk)], occurred_at=timezone.now()
    )


def test_the_publisher_sends_batches_in_submission_order(tenant):
    agent = MembershipFactory(tenant=tenant)
    layer, channel = _listen(push.agent_group(agent.pk))
    publisher = push.push_publisher()
    for n in range(5):
        publisher.submit(layer, [(push.agent_group(agent.pk), {"type": "ccp.event", "n": n})], [])

    async def receive_five():
        return [(await layer.receive(channel))["n"] for _ in range(5)]

    received = async_to_sync(receive_five)()
    assert received == [0, 1, 2, 3, 4]


def test_one_publisher_per_process_and_a_new_one_after_fork(tenant):
    first = push.push_publisher()
    assert push.push_publisher() is first
    assert first.pid == os.getpid()
    first.pid = -1  # what a forked child sees: the parent's instance, whose thread did not survive
    try:
        second = push.push_publisher()
        assert second is not first and second.pid == os.getpid()
    finally:
        first.pid = os.getpid()


def test_a_full_backlog_marks_the_events_for_the_sweep(tenant, monkeypatch):
    agent = MembershipFactory(tenant=tenant)
    event = _event(tenant, agent)
    publisher = push.push_publisher()
    monkeypatch.setattr(publisher, "MAX_BACKLOG", 0)
    publisher.submit(get_channel_layer(), [(push.agent_group(agent.pk), {"type": "ccp.event"})], [event.pk])
    event.refresh_from_db()
    assert event.push_pending


def test_a_failed_send_is_marked_and_the_sweep_pushes_it_once(tenant):
    agent = MembershipFactory(tenant=tenant)
    with transaction.atomic():
        event = _event(tenant, agent)
    Event.objects.filter(pk=event.pk).update(replay_id=event.pk + 10_000_000)

    dead = RedisChannelLayer(hosts=[{"address": f"redis://127.0.0.1:{free_port()}/0", "socket_timeout": 2}])
    push.push_publisher().submit(dead, [(push.agent_group(agent.pk), {"type": "ccp.event"})], [event.pk])
    wait_for(lambda: Event.objects.filter(pk=event.pk, push_pending=True).exists(), timeout=10, what="the mark")
    assert redis_health.redis_skipping()

    redis_health.redis_recovered()
    layer, channel = _listen(push.agent_group(agent.pk))
    assert push.event_push_pending(batch=10) == 1
    message = async_to_sync(layer.receive)(channel)
    assert message["type"] == "ccp.event" and message["event"]["type"] == "typing.started"
    assert push.event_push_pending(batch=10) == 0
