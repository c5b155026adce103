"""The race "an opt-out arrives while an outbound is being sent", against PostgreSQL with real threads.

Guarantee: no outbound message is published after the opt-out committed. The check and the publish
hold the ConsentRecord row lock until the sending transaction commits; consent changes take it too.
"""

import threading
import time

import pytest
from django.db import connection, transaction

from ccp.events.models import Event
from consent import services as consent_services
from consent.errors import ConsentDenied
from conversations import services
from conversations.models import Conversation, Message

from .conftest import USER, agent_client, install

pytestmark = pytest.mark.django_db(transaction=True)


def _opted_in_conversation(tenant, partner, alice):
    channel = install(tenant, partner)
    client = agent_client(alice)
    response = client.put(
        "/api/v1/agent/consent/", {"to": channel.channel_address_id, "address": USER, "status": "opt_in"}, format="json"
    )
    assert response.status_code == 200
    response = client.post(
        "/api/v1/agent/outbound/",
        {"channel_address_id": channel.channel_address_id, "address": USER, "text": "hello"},
        format="json",
    )
    assert response.status_code == 201, response.content
    return channel, Conversation.objects.get()


def _opt_out(channel):
    with transaction.atomic():
        consent_services.consent_update(
            channel=channel, address=USER, status="opt_out", source="web_form", actor="race", as_owner="platform"
        )


def _opt_out_event() -> Event:
    return Event.objects.get(type="consent.changed", data__status="opt_out")


def _outbound_events() -> list[Event]:
    return list(Event.objects.filter(type="AcmeOutbound__e").order_by("pk"))


def test_an_opt_out_waits_for_the_send_in_flight_and_stops_the_next(tenant, partner, alice):
    channel, conversation = _opted_in_conversation(tenant, partner, alice)
    checked = threading.Event()
    moments = {}

    def sender():
        try:
            with transaction.atomic():
                services.message_send(agent=alice, conversation=conversation, text="in flight")
                checked.set()
                time.sleep(0.5)  # the opt-out arrives while this message is still being sent
                moments["about_to_commit"] = time.monotonic()
        finally:
            connection.close()

    def opt_out():
        try:
            checked.wait(10)
            moments["opt_out_started"] = time.monotonic()
            _opt_out(channel)
            moments["opt_out_committed"] = time.monotonic()
        finally:
            connection.close()

    threads = [threading.Thread(target=sender), threading.Thread(target=opt_out)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # the opt-out started during the send and could only commit once the send had committed
    assert moments["opt_out_started"] < moments["about_to_commit"] < moments["opt_out_committed"]
    assert _outbound_events()[-1].pk < _opt_out_event().pk  # published strictly before the opt-out
    with pytest.raises(ConsentDenied):
        services.message_send(agent=alice, conversation=conversation, text="after the opt-out")
    assert Message.objects.filter(direction="outbound").count() == len(_outbound_events()) == 2


def test_concurrent_senders_and_an_opt_out_never_publish_after_it(tenant, partner, alice):
    channel, conversation = _opted_in_conversation(tenant, partner, alice)
    sent_some = threading.Event()
    results = {"sent": 0, "refused": 0, "errors": []}
    lock = threading.Lock()

    def sender(n):
        try:
            for i in range(60):
                try:
                    services.message_send(agent=alice, conversation=conversation, text=f"{n}-{i}")
                    with lock:
                        results["sent"] += 1
                    sent_some.set()
                except ConsentDenied:
                    with lock:
                        results["refused"] += 1
                    return
        except Exception as exc:  # surfaced below
            results["errors"].append(repr(exc))
        finally:
            connection.close()

    def opt_out():
        try:
            sent_some.wait(10)
            time.sleep(0.05)
            _opt_out(channel)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(6)] + [threading.Thread(target=opt_out)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive()
    assert not results["errors"], results["errors"]
    assert results["sent"] >= 1 and results["refused"] == 6  # every sender ran into the opt-out
    published = _outbound_events()
    assert len(published) == results["sent"] + 1  # + the opening message
    assert max(e.pk for e in published) < _opt_out_event().pk
    stored = Message.objects.filter(direction="outbound")
    assert stored.count() == len(published)
    assert max(m.created_at for m in stored) <= _opt_out_event().occurred_at
