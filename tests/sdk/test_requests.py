"""Request shapes and retry behaviour, against a real local HTTP server that records what it gets.

The platform does not have these endpoints yet (interactions, agents, conversations, consent, events,
subscriptions), so their shape — path, verb, query, JSON body, headers — is checked against
PARTNER_API.md here; the retry tests need a server that fails on purpose.
"""

from __future__ import annotations

import uuid

import pytest

from ccp_partner import (
    AuthenticationError,
    CcpError,
    Conflict,
    Gone,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    ValidationError,
)


def _error(code, message="nope", details=None):
    return {"error": {"code": code, "message": message, "details": details or {}}}


ENDPOINTS = [
    # (call, method, path, query, json body or None)
    (lambda c: c.partner(), "GET", "/api/v1/partner/", {}, None),
    (lambda c: c.list_packages(), "GET", "/api/v1/packages/", {}, None),
    (lambda c: c.create_package({"name": "X"}), "POST", "/api/v1/packages/", {}, {"name": "X"}),
    (lambda c: c.get_package("p1"), "GET", "/api/v1/packages/p1/", {}, None),
    (lambda c: c.update_package("p1", {"description": "d"}), "PATCH", "/api/v1/packages/p1/", {}, {"description": "d"}),
    (lambda c: c.delete_package("p1"), "DELETE", "/api/v1/packages/p1/", {}, None),
    (lambda c: c.publish_package("p1"), "POST", "/api/v1/packages/p1/publish/", {}, None),
    (lambda c: c.channels(), "GET", "/api/v1/channels/", {}, None),
    (lambda c: c.agents(to="wa-1"), "GET", "/api/v1/agents/", {"to": ["wa-1"]}, None),
    (lambda c: c.set_agent_status("a1", "away"), "PUT", "/api/v1/agents/a1/status/", {}, {"status": "away"}),
    (
        lambda c: c.send_interaction(
            "wa-1", "+4915", [{"id": "e1", "type": "message", "text": "hi"}, {"id": "e2", "type": "typing_started"}]
        ),
        "POST",
        "/api/v1/interactions/",
        {},
        {
            "to": "wa-1",
            "from": "+4915",
            "entries": [{"id": "e1", "type": "message", "text": "hi"}, {"id": "e2", "type": "typing_started"}],
        },
    ),
    (
        lambda c: c.send_message(
            "wa-1",
            "+4915",
            "hello",
            entry_id="m1",
            attachments=[{"url": "https://x/a.png", "content_type": "image/png", "name": "a.png"}],
            from_name="Ann",
        ),
        "POST",
        "/api/v1/interactions/",
        {},
        {
            "to": "wa-1",
            "from": "+4915",
            "from_name": "Ann",
            "entries": [
                {
                    "id": "m1",
                    "type": "message",
                    "text": "hello",
                    "attachments": [{"url": "https://x/a.png", "content_type": "image/png", "name": "a.png"}],
                }
            ],
        },
    ),
    (
        lambda c: c.send_typing("wa-1", "+4915", started=False, entry_id="t1"),
        "POST",
        "/api/v1/interactions/",
        {},
        {"to": "wa-1", "from": "+4915", "entries": [{"id": "t1", "type": "typing_stopped"}]},
    ),
    (
        lambda c: c.send_receipt("wa-1", "+4915", "msg-9", "read", entry_id="r1"),
        "POST",
        "/api/v1/interactions/",
        {},
        {"to": "wa-1", "from": "+4915", "entries": [{"id": "r1", "type": "read", "message_id": "msg-9"}]},
    ),
    (lambda c: c.get_conversation("c1"), "GET", "/api/v1/conversations/c1/", {}, None),
    (lambda c: c.list_messages("c1"), "GET", "/api/v1/conversations/c1/messages/", {}, None),
    (
        lambda c: c.list_messages("c1", after="m5"),
        "GET",
        "/api/v1/conversations/c1/messages/",
        {"after": ["m5"]},
        None,
    ),
    (
        lambda c: c.route_conversation("c1", agent_id="a1", routing_request_id="rr1"),
        "POST",
        "/api/v1/conversations/c1/route/",
        {},
        {"agent_id": "a1", "routing_request_id": "rr1"},
    ),
    (
        lambda c: c.route_conversation("c1", queue="sales"),
        "POST",
        "/api/v1/conversations/c1/route/",
        {},
        {"queue": "sales"},
    ),
    (lambda c: c.close_conversation("c1"), "POST", "/api/v1/conversations/c1/close/", {}, None),
    (
        lambda c: c.get_consent("wa-1", "+4915"),
        "GET",
        "/api/v1/consent/",
        {"to": ["wa-1"], "address": ["+4915"]},
        None,
    ),
    (
        lambda c: c.set_consent("wa-1", "+4915", "opt_out", source="STOP keyword"),
        "PUT",
        "/api/v1/consent/",
        {},
        {"to": "wa-1", "address": "+4915", "status": "opt_out", "source": "STOP keyword"},
    ),
    (lambda c: c.list_events(), "GET", "/api/v1/events/", {"limit": ["100"]}, None),
    (lambda c: c.list_events(after=42, limit=10), "GET", "/api/v1/events/", {"after": ["42"], "limit": ["10"]}, None),
    (
        lambda c: c.create_subscription("https://partner.example/hook"),
        "POST",
        "/api/v1/subscriptions/",
        {},
        {"url": "https://partner.example/hook", "event_types": ["*"]},
    ),
    (
        lambda c: c.create_subscription("https://p/h", ["message.created", "work.accepted"]),
        "POST",
        "/api/v1/subscriptions/",
        {},
        {"url": "https://p/h", "event_types": ["message.created", "work.accepted"]},
    ),
    (lambda c: c.get_subscription("s1"), "GET", "/api/v1/subscriptions/s1/", {}, None),
    (lambda c: c.delete_subscription("s1"), "DELETE", "/api/v1/subscriptions/s1/", {}, None),
    (lambda c: c.list_deliveries("s1"), "GET", "/api/v1/subscriptions/s1/deliveries/", {}, None),
    (lambda c: c.redeliver("s1", "d1"), "POST", "/api/v1/subscriptions/s1/deliveries/d1/redeliver/", {}, None),
]


@pytest.mark.parametrize(("call", "method", "path", "query", "body"), ENDPOINTS)
def test_each_endpoint_sends_the_contracts_request(recorder, recorded_client, call, method, path, query, body):
    call(recorded_client)
    [request] = recorder.requests
    assert (request.method, request.path, request.query) == (method, path, query)
    assert request.header("Authorization") == "Bearer token-1"
    assert request.header("Accept") == "application/json"
    if body is None:
        assert request.body == b""
    else:
        assert request.header("Content-Type") == "application/json"
        assert request.json() == body
    key = request.header("Idempotency-Key")
    if method == "POST":
        assert uuid.UUID(key).version == 4
    else:
        assert key is None


def test_the_token_request_is_client_credentials_in_http_basic(recorder, recorded_client):
    recorded_client.channels()
    recorded_client.channels()
    [token_request] = recorder.token_requests
    assert token_request.method == "POST"
    assert token_request.header("Authorization") == "Basic Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ="  # client-id:client-secret
    assert token_request.body == b"grant_type=client_credentials"
    assert [r.header("Authorization") for r in recorder.requests] == ["Bearer token-1"] * 2


def test_requested_scopes_are_sent(recorder, sleeps):
    from ccp_partner import Client

    Client(recorder.url, "client-id", "s", scopes=["interactions", "events"], sleep=sleeps.append).partner()
    assert recorder.token_requests[0].body == b"grant_type=client_credentials&scope=interactions+events"


def test_ids_cannot_escape_their_path_segment(recorder, recorded_client):
    recorded_client.get_package("../partner/?x=1")
    assert recorder.requests[0].path == "/api/v1/packages/..%2Fpartner%2F%3Fx%3D1/"


def test_each_post_gets_its_own_key_and_a_given_key_is_sent(recorder, recorded_client):
    recorded_client.send_message("wa-1", "+4915", "one")
    recorded_client.send_message("wa-1", "+4915", "two")
    recorded_client.create_package({"name": "X"}, idempotency_key="my-key-1")
    keys = [r.header("Idempotency-Key") for r in recorder.requests]
    assert keys[0] != keys[1] and keys[2] == "my-key-1"
    assert recorder.requests[0].json()["entries"][0]["id"] != recorder.requests[1].json()["entries"][0]["id"]


def test_a_503_is_retried_after_retry_after_with_the_same_idempotency_key(recorder, recorded_client, sleeps):
    recorder.script(
        (503, {"Retry-After": "1"}, _error("unavailable", "Down for a moment")),
        (201, {}, {"conversation_id": "c1", "session_id": "s1", "entries": [{"id": "m1", "message_id": "x"}]}),
    )
    result = recorded_client.send_message("wa-1", "+4915", "hi", entry_id="m1")
    assert result["conversation_id"] == "c1"
    first, second = recorder.requests
    assert first.header("Idempotency-Key") == second.header("Idempotency-Key")
    assert first.body == second.body
    assert sleeps == [1.0]


def test_an_http_date_retry_after_is_understood(recorder, recorded_client, sleeps):
    recorder.script((429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, _error("rate_limited")), (200, {}, []))
    assert recorded_client.channels() == []
    assert sleeps == [0.0]  # a date in the past: retry now


def test_without_retry_after_the_backoff_is_exponential_with_jitter(recorder, recorded_client, sleeps):
    recorder.script(*[(500, {}, _error("internal_error"))] * 3, (200, {}, {"id": "p"}))
    recorded_client.backoff_base = 1.0
    recorded_client.partner()
    assert len(sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(sleeps, [1, 2, 4], strict=True))


def test_a_dropped_connection_is_retried_with_the_same_key(recorder, recorded_client, sleeps):
    def hang_up(handler, recorded):
        handler.close_connection = True  # no answer at all: the client sees the connection drop

    recorder.script(hang_up, (201, {}, {"id": "pkg"}))
    assert recorded_client.create_package({"name": "X"})["id"] == "pkg"
    first, second = recorder.requests
    assert first.header("Idempotency-Key") == second.header("Idempotency-Key")
    assert len(sleeps) == 1


def test_retries_run_out_with_rate_limited(recorder, recorded_client, sleeps):
    recorder.script(*[(429, {"Retry-After": "2"}, _error("rate_limited", "Too many", {"retry_after": 2}))] * 4)
    with pytest.raises(RateLimited) as caught:
        recorded_client.list_packages()
    assert caught.value.code == "rate_limited" and caught.value.retry_after == 2.0
    assert len(recorder.requests) == 4  # max_retries=3
    assert sleeps == [2.0, 2.0, 2.0]


def test_a_retry_after_longer_than_allowed_is_not_slept(recorder, recorded_client, sleeps):
    recorder.script((429, {"Retry-After": "3600"}, _error("rate_limited")))
    with pytest.raises(RateLimited) as caught:
        recorded_client.partner()
    assert caught.value.retry_after == 3600.0 and sleeps == []


def test_a_non_json_5xx_still_raises_with_the_status(recorder, recorded_client):
    def html(handler, recorded):
        body = b"<html>Bad gateway</html>"
        handler.send_response(502)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    recorder.script(*[html] * 4)
    with pytest.raises(ServerError) as caught:
        recorded_client.partner()
    assert caught.value.status == 502 and caught.value.code == "http_502"


def test_an_unreachable_platform_raises_transport_error(sleeps):
    from ccp_partner import Client
    from tests.sdk.servers import start_recording_server

    recorder, httpd = start_recording_server()
    httpd.shutdown()
    httpd.server_close()  # nothing listens on the port any more
    client = Client(recorder.url, "id", "secret", max_retries=2, sleep=sleeps.append)
    with pytest.raises(TransportError) as caught:
        client.partner()
    assert caught.value.status is None and caught.value.code == "connection_error"
    assert len(sleeps) == 2


def test_a_request_in_progress_conflict_is_retried_but_a_reused_key_is_not(recorder, recorded_client, sleeps):
    recorder.script(
        (409, {}, _error("idempotency_request_in_progress")),
        (201, {}, {"id": "pkg"}),
        (409, {}, _error("idempotency_key_reused", "different body")),
    )
    assert recorded_client.create_package({"name": "X"}, idempotency_key="k")["id"] == "pkg"
    with pytest.raises(Conflict) as caught:
        recorded_client.create_package({"name": "Y"}, idempotency_key="k")
    assert caught.value.code == "idempotency_key_reused"
    assert len(recorder.requests) == 3 and len(sleeps) == 1


def test_a_401_fetches_one_new_token_and_repeats_the_call_with_the_same_key(recorder, recorded_client):
    recorder.script((401, {}, _error("not_authenticated")), (201, {}, {"id": "pkg"}))
    recorded_client.create_package({"name": "X"})
    assert len(recorder.token_requests) == 2
    first, second = recorder.requests
    assert (first.header("Authorization"), second.header("Authorization")) == ("Bearer token-1", "Bearer token-2")
    assert first.header("Idempotency-Key") == second.header("Idempotency-Key")


def test_a_second_401_is_raised(recorder, recorded_client):
    recorder.script((401, {}, _error("not_authenticated")), (401, {}, _error("not_authenticated")))
    with pytest.raises(AuthenticationError):
        recorded_client.partner()
    assert len(recorder.token_requests) == 2 and len(recorder.requests) == 2


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "invalid", ValidationError),
        (404, "unknown_channel", NotFound),
        (409, "installation_inactive", Conflict),
        (410, "replay_expired", Gone),
        (422, "whatever", CcpError),
    ],
)
def test_client_errors_are_not_retried_and_keep_the_envelope(recorder, recorded_client, sleeps, status, code, cls):
    recorder.script((status, {}, _error(code, "Explained", {"earliest": 7})))
    with pytest.raises(cls) as caught:
        recorded_client.send_message("wa-1", "+4915", "hi")
    assert (caught.value.status, caught.value.code, caught.value.message) == (status, code, "Explained")
    assert caught.value.details == {"earliest": 7}
    assert len(recorder.requests) == 1 and sleeps == []


def test_a_403_is_permission_denied(recorder, recorded_client):
    from ccp_partner import PermissionDenied

    recorder.script((403, {}, _error("consent_denied", "The end user opted out.")))
    with pytest.raises(PermissionDenied) as caught:
        recorded_client.send_message("wa-1", "+4915", "hi")
    assert caught.value.code == "consent_denied"


def test_route_needs_exactly_one_target(recorded_client):
    with pytest.raises(ValueError):
        recorded_client.route_conversation("c1")
    with pytest.raises(ValueError):
        recorded_client.route_conversation("c1", agent_id="a", queue="q")


def test_a_short_lived_token_is_kept_for_half_its_life(recorder, sleeps):
    from ccp_partner import Client

    now = [0.0]

    with Client(recorder.url, "id", "secret", sleep=sleeps.append, clock=lambda: now[0]) as client:
        recorder.token_lifetime = 30
        client.partner()
        now[0] = 14.0
        client.partner()
        assert len(recorder.token_requests) == 1
        now[0] = 15.0  # half of the 30 s lifetime: renewed although the 60 s margin is longer than that
        client.partner()
        assert len(recorder.token_requests) == 2


def test_iter_events_pages_until_caught_up(recorder, recorded_client):
    recorder.script(
        (200, {}, {"events": [{"id": 5}, {"id": 6}], "next_after": 6}),
        (200, {}, {"events": [{"id": 7}], "next_after": 7}),
        (200, {}, {"events": [], "next_after": 7}),
    )
    assert [e["id"] for e in recorded_client.iter_events(after=4, limit=2)] == [5, 6, 7]
    assert [r.query for r in recorder.requests] == [
        {"after": ["4"], "limit": ["2"]},
        {"after": ["6"], "limit": ["2"]},
        {"after": ["7"], "limit": ["2"]},
    ]
