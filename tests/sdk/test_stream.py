"""The event stream consumer: SSE parsing, and resuming after a drop without gaps or duplicates.

A local http.server plays GET /api/v1/events/stream/: it streams events, drops the connection, and
records what each reconnect asked for.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import pytest

from ccp_partner import Client, Gone, SSEParser, TransportError

from .servers import serve


def _event(event_id: int, event_type: str = "message.created") -> bytes:
    envelope = {"id": event_id, "type": event_type, "tenant": "acme", "occurred_at": "2026-11-25T10:00:00Z", "data": {}}
    return f"id: {event_id}\nevent: {event_type}\ndata: {json.dumps(envelope)}\n\n".encode()


class StreamServer:
    """Answers /o/token/ with a token and each stream connection with the next script (then hangs up)."""

    def __init__(self, *scripts):
        self.scripts = list(scripts)
        self.connections: list[dict] = []
        self.tokens = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_POST(self):  # /o/token/
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.tokens += 1
                body = json.dumps({"access_token": f"token-{server.tokens}", "expires_in": 3600}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                parts = urlsplit(self.path)
                server.connections.append(
                    {
                        "path": parts.path,
                        "query": parse_qs(parts.query),
                        "last_event_id": self.headers.get("Last-Event-ID"),
                        "authorization": self.headers.get("Authorization"),
                        "accept": self.headers.get("Accept"),
                    }
                )
                script = server.scripts.pop(0) if server.scripts else []
                if isinstance(script, tuple):  # (status, headers, body): an HTTP error
                    status, headers, body = script
                    data = json.dumps(body).encode()
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                for part in script:
                    if callable(part):
                        part()
                    else:
                        self.wfile.write(part)
                        self.wfile.flush()
                # returning closes the connection (HTTP/1.0): the stream drops

        self.httpd, self.url = serve(Handler)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stream_server():
    servers = []

    def start(*scripts):
        server = StreamServer(*scripts)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _client(server, sleeps) -> Client:
    return Client(server.url, "id", "secret", sleep=sleeps.append)


def test_the_consumer_resumes_after_a_drop_with_last_event_id_and_yields_each_event_once(stream_server, sleeps):
    server = stream_server(
        [b": connected\n\n", _event(1), b": heartbeat\n\n", _event(2), b'id: 3\ndata: {"id": 3, "ty'],  # dropped
        [_event(2), _event(3), b": heartbeat\n\n", _event(4)],  # at least once: 2 comes again
    )
    with _client(server, sleeps) as client:
        events = []
        for event in client.stream_events():
            events.append(event)
            if len(events) == 4:
                break
    assert [e.id for e in events] == ["1", "2", "3", "4"]
    assert [e.json()["id"] for e in events] == [1, 2, 3, 4]
    assert {e.event for e in events} == {"message.created"}
    first, second = server.connections
    assert first["path"] == second["path"] == "/api/v1/events/stream/"
    assert first["accept"] == "text/event-stream" and first["authorization"] == "Bearer token-1"
    assert first["last_event_id"] is None and first["query"] == {}
    assert second["last_event_id"] == "2" and second["query"] == {"after": ["2"]}
    assert len(sleeps) == 1  # one backoff before reconnecting


def test_after_is_sent_on_the_first_connection(stream_server, sleeps):
    server = stream_server([_event(43)])
    with _client(server, sleeps) as client:
        assert next(iter(client.stream_events(after=42))).id == "43"
    assert server.connections[0]["query"] == {"after": ["42"]}
    assert server.connections[0]["last_event_id"] is None


def test_events_are_yielded_as_they_arrive_not_when_the_connection_ends(stream_server, sleeps):
    got_first = threading.Event()
    seen_in_time = []
    server = stream_server(
        [_event(1), lambda: seen_in_time.append(got_first.wait(timeout=10)), _event(2)],
    )
    with _client(server, sleeps) as client:
        stream = client.stream_events()
        assert next(stream).id == "1"
        got_first.set()
        assert next(stream).id == "2"
        stream.close()
    assert seen_in_time == [True]  # the first event reached us while the server was still holding it open


def test_an_unavailable_stream_is_retried_after_retry_after(stream_server, sleeps):
    server = stream_server((503, {"Retry-After": "3"}, {"error": {"code": "unavailable"}}), [_event(7)])
    with _client(server, sleeps) as client:
        assert next(iter(client.stream_events())).id == "7"
    assert sleeps == [3.0]


def test_a_401_renews_the_token_once(stream_server, sleeps):
    server = stream_server((401, {}, {"error": {"code": "not_authenticated"}}), [_event(1)])
    with _client(server, sleeps) as client:
        assert next(iter(client.stream_events())).id == "1"
    assert [c["authorization"] for c in server.connections] == ["Bearer token-1", "Bearer token-2"]


def test_an_expired_replay_position_raises_gone(stream_server, sleeps):
    server = stream_server(
        (410, {}, {"error": {"code": "replay_expired", "message": "gone", "details": {"earliest": 9}}})
    )
    with _client(server, sleeps) as client, pytest.raises(Gone) as caught:
        next(iter(client.stream_events(after=1)))
    assert caught.value.code == "replay_expired" and caught.value.details == {"earliest": 9}


def test_max_reconnects_bounds_a_stream_that_never_delivers(stream_server, sleeps):
    server = stream_server([b": hi\n\n"], [], [])
    with _client(server, sleeps) as client, pytest.raises(TransportError):
        next(iter(client.stream_events(max_reconnects=2)))
    assert len(server.connections) == 3


# --- the parser on its own -----------------------------------------------------------------------


def _feed(*chunks: bytes):
    parser = SSEParser()
    events = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events, parser


def test_parser_handles_every_line_ending_and_chunk_split():
    stream = b"id: 1\r\ndata: a\r\n\r\nid: 2\rdata: b\r\rid: 3\ndata: c\n\n"
    whole, _ = _feed(stream)
    bytewise, _ = _feed(*[stream[i : i + 1] for i in range(len(stream))])
    assert [(e.id, e.data) for e in whole] == [("1", "a"), ("2", "b"), ("3", "c")]
    assert bytewise == whole


def test_parser_joins_data_lines_ignores_comments_and_keeps_retry():
    events, parser = _feed(
        "\ufeff: heartbeat\nretry: 2500\nevent: typing.started\ndata: line one\ndata:line two\nunknown: x\n\n".encode()
        + "data: é\n\n".encode()[:8],
        "data: é\n\n".encode()[8:],
    )
    assert [(e.id, e.event, e.data) for e in events] == [
        (None, "typing.started", "line one\nline two"),
        (None, "message", "é"),
    ]
    assert parser.retry_ms == 2500


def test_parser_dispatches_nothing_for_a_block_without_data():
    events, _ = _feed(b"id: 5\n\n: only a comment\n\nevent: x\n\n")
    assert events == []


def test_the_streams_retry_field_is_the_least_wait_before_reconnecting(stream_server, sleeps):
    server = stream_server([b"retry: 2500\n\n", _event(1)], [_event(2)])
    with _client(server, sleeps) as client:
        stream = client.stream_events()
        assert [next(stream).id, next(stream).id] == ["1", "2"]
        stream.close()
    assert len(sleeps) == 1 and sleeps[0] >= 2.5
