"""An open event stream ends when its token does, and a partner holds only so many streams."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from ccp.packages import services as package_services
from tests.helpers import token_for
from tests.servers import daphne_server

from .conftest import wait_for
from .test_stream import SSE, publish

pytestmark = pytest.mark.django_db(transaction=True)


class ClosingSSE(SSE):
    """An SSE reader that also records when the server ended the response."""

    def __init__(self, url: str, token: str, **headers):
        self.ended = threading.Event()
        self.ended_at: float | None = None
        super().__init__(url, token, **headers)

    def _read(self):
        try:
            super()._read()
        finally:
            self.ended_at = time.monotonic()
            self.ended.set()

    def drain(self) -> list[str]:
        frames = []
        while not self.frames.empty():
            frames.append(self.frames.get_nowait())
        return frames


@pytest.fixture
def daphne():
    # A long heartbeat and a 1 s idle re-check: a close within seconds is the re-check or the
    # revocation's wake-up, not a heartbeat.
    with daphne_server(
        EVENTS_STREAM_HEARTBEAT_SECONDS="60", EVENTS_STREAM_RECHECK_SECONDS="1", EVENTS_STREAM_MAX_PER_PARTNER="2"
    ) as url:
        yield url


def _remove_events_scope(app):
    package_services.connected_app_set_scopes(connected_app=app, scopes=["interactions"])


def _rotate(app):
    package_services.connected_app_rotate_secret(connected_app=app)


def _deactivate(app):
    package_services.connected_app_set_active(connected_app=app, active=False)


@pytest.mark.parametrize("revoke", [_remove_events_scope, _rotate, _deactivate])
def test_a_revoked_stream_closes_within_seconds_and_sends_nothing_after(daphne, tenant, partner, connected_app, revoke):
    stream = ClosingSSE(f"{daphne}/api/v1/events/stream/", token_for(connected_app))
    try:
        assert stream.response.status_code == 200
        before = publish(tenant, partner, "before")
        assert stream.next_event()[0] == before.replay_id

        revoked_at = time.monotonic()
        revoke(connected_app)
        publish(tenant, partner, "after")  # committed after the revocation: must never be sent

        assert stream.ended.wait(timeout=5), "the stream stayed open after its token was revoked"
        assert stream.ended_at - revoked_at < 3
        frames = stream.drain()
        assert not [f for f in frames if "data:" in f], frames
        assert any("token was revoked or has expired" in f for f in frames), frames
    finally:
        stream.close()


def test_a_stream_ends_when_its_token_expires(daphne, tenant, partner, connected_app):
    stream = ClosingSSE(f"{daphne}/api/v1/events/stream/", token_for(connected_app, expires_in=2))
    try:
        assert stream.response.status_code == 200
        assert stream.ended.wait(timeout=6), "the stream outlived its token"
        publish(tenant, partner, "late")
        assert not [f for f in stream.drain() if "data:" in f]
    finally:
        stream.close()


def test_a_partner_holds_at_most_the_configured_number_of_streams(daphne, partner, connected_app, other_connected_app):
    token = token_for(connected_app)
    first = ClosingSSE(f"{daphne}/api/v1/events/stream/", token)
    second = ClosingSSE(f"{daphne}/api/v1/events/stream/", token_for(connected_app))
    try:
        assert first.response.status_code == second.response.status_code == 200
        refused = requests.get(
            f"{daphne}/api/v1/events/stream/", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "too_many_streams" and error["details"] == {"limit": 2}
        assert "2 open event stream(s), the limit" in error["message"] and int(refused.headers["Retry-After"]) >= 1

        # counted per partner: another partner is not affected
        other = ClosingSSE(f"{daphne}/api/v1/events/stream/", token_for(other_connected_app))
        assert other.response.status_code == 200
        other.close()

        # closing a stream frees its slot
        first.close()

        def third_opens():
            attempt = ClosingSSE(f"{daphne}/api/v1/events/stream/", token)
            if attempt.response.status_code == 200:
                return attempt
            attempt.close()
            return None

        third = wait_for(third_opens, timeout=10, interval=0.3, what="the closed stream's slot to free")
        third.close()
    finally:
        first.close()
        second.close()


def test_opening_streams_counts_against_the_partner_rate_limit(partner, connected_app, settings):
    from tests.helpers import assert_error, partner_client

    settings.PARTNER_RATE_LIMIT = "2/min"
    token = token_for(connected_app)
    api = partner_client(token)
    assert api.get("/api/v1/partner/").status_code == 200
    assert api.get("/api/v1/partner/").status_code == 200
    response = api.get("/api/v1/events/stream/")  # over the limit: refused before a stream opens
    error = assert_error(response, 429, "rate_limited")
    assert error["details"]["retry_after"] >= 1 and int(response["Retry-After"]) >= 1


def test_the_stream_cap_holds_across_server_processes(partner, connected_app):
    env = {"EVENTS_STREAM_MAX_PER_PARTNER": "2", "EVENTS_STREAM_RECHECK_SECONDS": "1"}
    with daphne_server(**env) as first_server, daphne_server(**env) as second_server:
        token = token_for(connected_app)
        one = ClosingSSE(f"{first_server}/api/v1/events/stream/", token)
        two = ClosingSSE(f"{second_server}/api/v1/events/stream/", token)
        try:
            assert one.response.status_code == two.response.status_code == 200
            for server in (first_server, second_server):
                refused = requests.get(
                    f"{server}/api/v1/events/stream/", headers={"Authorization": f"Bearer {token}"}, timeout=10
                )
                assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_streams"
        finally:
            one.close()
            two.close()


def test_a_revocation_wakes_the_stream_without_waiting_for_the_idle_recheck(tenant, partner, connected_app):
    with daphne_server(EVENTS_STREAM_HEARTBEAT_SECONDS="60", EVENTS_STREAM_RECHECK_SECONDS="30") as url:
        stream = ClosingSSE(f"{url}/api/v1/events/stream/", token_for(connected_app))
        try:
            assert stream.next_frame().startswith("retry: 3000")
            time.sleep(1.5)  # past the first reads: the stream now waits for a wake-up or 30 s
            revoked_at = time.monotonic()
            _deactivate(connected_app)  # the service's on-commit wake-up, not the 30 s re-check
            assert stream.ended.wait(timeout=5), "the stream waited for its idle re-check"
            assert stream.ended_at - revoked_at < 5
        finally:
            stream.close()
