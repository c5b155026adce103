"""The live stream: Server-Sent Events served by a real daphne (ASGI) process on the test database."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
from pathlib import Path

import pytest
import redis
import requests
from django.conf import settings
from django.db import connection, transaction

from ccp.events.services import event_publish, stream_channel
from tests.helpers import token_for
from tests.servers import SERVER_APPLICATION_NAME, daphne_server

from .conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def daphne(request):
    """daphne on the test database; the heartbeat (and the idle token re-check) is 0.5 s unless
    parametrized indirectly."""
    heartbeat = str(getattr(request, "param", 0.5))
    # persistent connections on, so an idle stream that kept its connection would show up
    with daphne_server(
        EVENTS_STREAM_HEARTBEAT_SECONDS=heartbeat, EVENTS_STREAM_RECHECK_SECONDS=heartbeat, DB_CONN_MAX_AGE="60"
    ) as url:
        yield url


class SSE:
    """A minimal EventSource: reads frames on a thread so the test can wait with a bound."""

    def __init__(self, url: str, token: str, **headers):
        self.response = requests.get(
            url, headers={"Authorization": f"Bearer {token}", **headers}, stream=True, timeout=(3, 30)
        )
        self.frames: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buffer = ""
        try:
            for chunk in self.response.iter_content(chunk_size=None, decode_unicode=True):
                buffer += chunk
                while "\n\n" in buffer:
                    frame, buffer = buffer.split("\n\n", 1)
                    self.frames.put(frame)
        except Exception:  # the test closed the stream
            pass

    def next_frame(self, timeout: float = 15) -> str:
        return self.frames.get(timeout=timeout)

    def next_event(self, timeout: float = 15) -> tuple[int, dict]:
        while True:
            frame = self.next_frame(timeout)
            lines = dict(line.split(": ", 1) for line in frame.split("\n") if not line.startswith(":"))
            if "data" in lines:
                return int(lines["id"]), json.loads(lines["data"])

    def close(self):
        # Shut the socket down first: close() alone waits for the reader thread's blocking read.
        connection = getattr(self.response.raw, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.response.close()


def publish(tenant, partner, n):
    with transaction.atomic():
        event = event_publish(tenant=tenant, partner=partner, type="message.created", data={"n": n})
    event.refresh_from_db()
    return event


def _other_connections() -> int:
    """Database connections the daphne server holds (its connections carry an application name)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            [SERVER_APPLICATION_NAME],
        )
        return cursor.fetchone()[0]


def test_the_stream_replays_then_pushes_live_with_heartbeats_and_resumes(
    daphne, tenant, partner, other_partner, connected_app
):
    token = token_for(connected_app)
    first = publish(tenant, partner, 1)
    stream = SSE(f"{daphne}/api/v1/events/stream/?after=0", token)
    try:
        assert stream.response.status_code == 200
        assert stream.response.headers["Content-Type"].startswith("text/event-stream")
        replay_id, envelope = stream.next_event()
        assert replay_id == first.replay_id == envelope["id"] and envelope["data"] == {"n": 1}

        publish(tenant, other_partner, "not yours")
        second = publish(tenant, partner, 2)
        replay_id, envelope = stream.next_event()
        assert (replay_id, envelope["data"]) == (second.replay_id, {"n": 2})

        # Idle: heartbeat comments keep coming, and the stream holds no database connection.
        wait_for(lambda: stream.next_frame() == ": heartbeat", what="a heartbeat")
        assert stream.next_frame() == ": heartbeat"
        # The idle re-check opens a connection for a moment every 0.5 s and closes it, so one sample
        # can catch it; a stream that kept its connection would never let the count reach zero.
        wait_for(lambda: _other_connections() == 0, timeout=5, what="the idle stream to hold no connection")
        # ...and that count does see the server's connections: a replay read leaves one open
        # (DB_CONN_MAX_AGE=60 keeps it for the next request)
        requests.get(f"{daphne}/api/v1/events/?after=0", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert _other_connections() >= 1
    finally:
        stream.close()

    third = publish(tenant, partner, 3)
    resumed = SSE(f"{daphne}/api/v1/events/stream/?after=0", token, **{"Last-Event-ID": str(first.replay_id)})
    try:
        assert [resumed.next_event()[0], resumed.next_event()[0]] == [second.replay_id, third.replay_id]
    finally:
        resumed.close()


@pytest.mark.parametrize("daphne", [120], indirect=True)
def test_live_events_are_pushed_by_the_redis_wake_up_not_by_polling(daphne, tenant, partner, connected_app):
    # With a 120 s heartbeat the stream only re-reads the database when the fan-out wakes it.
    stream = SSE(f"{daphne}/api/v1/events/stream/", token_for(connected_app))
    try:
        assert stream.next_frame().startswith("retry: 3000")
        event = publish(tenant, partner, "live")
        assert stream.next_event(timeout=15) == (event.replay_id, stream_envelope(event))
    finally:
        stream.close()
    # The server noticed the disconnect and let go of its subscription.
    redis_client = redis.Redis.from_url(settings.REDIS_URL)
    channel = stream_channel(partner.pk)
    wait_for(lambda: redis_client.pubsub_numsub(channel)[0][1] == 0, what="the stream to unsubscribe")


def stream_envelope(event) -> dict:
    from ccp.events.selectors import event_envelope

    event = type(event).objects.select_related("tenant").get(pk=event.pk)
    return event_envelope(event)


def test_the_stream_refuses_bad_requests_in_the_envelope(daphne, connected_app):
    assert requests.get(f"{daphne}/api/v1/events/stream/", timeout=10).status_code == 401
    lacking = token_for(connected_app, ["packages"])
    response = requests.get(
        f"{daphne}/api/v1/events/stream/", headers={"Authorization": f"Bearer {lacking}"}, timeout=10
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"
    response = requests.get(
        f"{daphne}/api/v1/events/stream/?after=x",
        headers={"Authorization": f"Bearer {token_for(connected_app)}"},
        timeout=10,
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_cursor"
