"""An internal note or a whisper never reaches the partner: not by webhook (a real HTTP receiver on
127.0.0.1), not in replay, not on the Server-Sent-Events stream (a real daphne), and never in the
conversation's messages the partner reads. An agent reply sent next to them does arrive — so the
checks could fail."""

import json

import pytest

from ccp.events import services as event_services
from ccp.events.models import Delivery, Event
from tests.events.conftest import Receiver
from tests.events.test_stream import SSE
from tests.helpers import token_for
from tests.servers import daphne_server

from .conftest import session

pytestmark = pytest.mark.django_db(transaction=True)

NOTE, WHISPER, REPLY = "internal: customer is a VIP", "whisper: offer the refund", "Here is your refund."


def _deliver_everything() -> None:
    pks = list(Event.objects.filter(partner__isnull=False).values_list("pk", flat=True))
    event_services.event_fan_out(event_pks=pks)
    event_services.event_relay(event_pks=pks)
    for delivery in Delivery.objects.all():
        event_services.delivery_attempt(delivery_id=delivery.pk)


def test_notes_and_whispers_never_reach_the_partner(floor, connected_app, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    receiver = Receiver().start()
    try:
        event_services.subscription_create(partner=connected_app.partner, url=receiver.url, event_types=["*"])
        notes = f"/api/v1/agent/conversations/{floor.conversation_id}/notes/"
        assert session(floor.alice).post(notes, {"text": NOTE}, format="json").status_code == 201
        assert session(floor.sam).post(notes, {"text": WHISPER, "whisper": True}, format="json").status_code == 201
        reply = session(floor.alice).post(
            f"/api/v1/agent/conversations/{floor.conversation_id}/messages/", {"text": REPLY}, format="json"
        )
        assert reply.status_code == 201
        _deliver_everything()
        bodies = [r["body"].decode() for r in receiver.succeeded()]
    finally:
        receiver.stop()
    assert any(REPLY in b for b in bodies), "the reply should have been delivered"
    assert not any(NOTE in b or WHISPER in b for b in bodies)

    # nothing of them in the outbox at all, for any audience
    stored = json.dumps([e.data for e in Event.objects.all()])
    assert REPLY in stored and NOTE not in stored and WHISPER not in stored

    # replay
    partner = floor.api
    replay = partner.get("/api/v1/events/?after=0&limit=1000").json()
    replayed = json.dumps(replay["events"])
    assert REPLY in replayed and NOTE not in replayed and WHISPER not in replayed

    # the conversation's messages, as the partner reads them (the end user's history)
    transcript = json.dumps(partner.get(f"/api/v1/conversations/{floor.conversation_id}/messages/").json())
    assert REPLY in transcript and NOTE not in transcript and WHISPER not in transcript

    # the stream, on a real daphne: everything up to the last replay id, then nothing else
    last = max(e["id"] for e in replay["events"])
    with daphne_server(EVENTS_STREAM_HEARTBEAT_SECONDS="0.5") as url:
        stream = SSE(f"{url}/api/v1/events/stream/?after=0", token_for(connected_app))
        try:
            seen = []
            while not seen or seen[-1][0] < last:
                seen.append(stream.next_event())
        finally:
            stream.close()
    streamed = json.dumps([envelope for _, envelope in seen])
    assert REPLY in streamed and NOTE not in streamed and WHISPER not in streamed
