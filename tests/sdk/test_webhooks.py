"""Webhook receivers: signature verification with replay protection, and deduplication on CCP-Event-Id."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler

import pytest
import redis
import requests
from django.conf import settings

from ccp_partner import Deduplicator, InvalidSignature, MemoryStore, RedisStore, signature_headers, verify_signature

from .servers import serve

SECRET = "whsec_test_3b9f"
NOW = 1_764_000_000
BODY = json.dumps(
    {"id": 17, "type": "message.created", "tenant": "acme", "occurred_at": "2026-11-25T10:00:00Z", "data": {}}
).encode()


def _signed(body: bytes = BODY, *, timestamp: int = NOW, secret: str = SECRET) -> dict[str, str]:
    """Headers as the contract defines them, computed here independently of the SDK."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"CCP-Event-Id": "17", "CCP-Timestamp": str(timestamp), "CCP-Signature": f"v1={digest}"}


def test_a_valid_signature_passes():
    assert verify_signature(SECRET, BODY, _signed(), now=NOW) == NOW


def test_header_names_are_case_insensitive_and_secret_may_be_bytes():
    headers = {k.lower(): v for k, v in _signed().items()}
    assert verify_signature(SECRET.encode(), BODY, headers, now=NOW + 10) == NOW


def test_the_sdk_signs_as_the_contract_says():
    assert signature_headers(SECRET, BODY, timestamp=NOW, event_id="17") == _signed()


def test_one_of_several_signatures_may_match():
    headers = _signed()
    headers["CCP-Signature"] = "v1=" + "0" * 64 + ", " + headers["CCP-Signature"]
    verify_signature(SECRET, BODY, headers, now=NOW)


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (BODY, {**_signed(), "CCP-Signature": "v1=" + "ab" * 32}, "signature mismatch"),
        (BODY, _signed(secret="another-secret"), "signature mismatch"),
        (BODY.replace(b'"acme"', b'"evil"'), _signed(), "signature mismatch"),
        (BODY, {**_signed(), "CCP-Timestamp": str(NOW + 1)}, "signature mismatch"),
        (BODY, _signed(timestamp=NOW - 301), "timestamp too old"),
        (BODY, _signed(timestamp=NOW + 301), "timestamp in the future"),
        (BODY, {k: v for k, v in _signed().items() if k != "CCP-Signature"}, "missing CCP-Signature"),
        (BODY, {k: v for k, v in _signed().items() if k != "CCP-Timestamp"}, "missing CCP-Timestamp"),
        (BODY, {**_signed(), "CCP-Timestamp": "yesterday"}, "not unix seconds"),
        (BODY, {**_signed(), "CCP-Signature": "v0=abc"}, "no v1= signature"),
    ],
    ids=[
        "bad-signature",
        "wrong-secret",
        "tampered-body",
        "moved-timestamp",
        "old",
        "future",
        "no-sig",
        "no-ts",
        "ts",
        "v0",
    ],
)
def test_untrustworthy_deliveries_are_rejected_with_a_reason(body, headers, reason):
    with pytest.raises(InvalidSignature) as caught:
        verify_signature(SECRET, body, headers, now=NOW)
    assert reason in caught.value.reason


def test_the_tolerance_is_configurable():
    headers = _signed(timestamp=NOW - 100)
    verify_signature(SECRET, BODY, headers, now=NOW)
    with pytest.raises(InvalidSignature):
        verify_signature(SECRET, BODY, headers, now=NOW, tolerance=60)


def test_the_raw_body_is_required():
    with pytest.raises(TypeError):
        verify_signature(SECRET, json.loads(BODY), _signed(), now=NOW)


def test_dedupe_lets_each_event_id_through_once():
    dedup = Deduplicator()
    assert dedup.first_delivery(_signed()) is True
    assert dedup.first_delivery({"ccp-event-id": "17"}) is False
    assert dedup.first_delivery("18") is True
    dedup.forget("17")  # handling failed: the redelivery must be processed
    assert dedup.first_delivery("17") is True


def test_the_memory_store_is_a_bounded_lru():
    dedup = Deduplicator(max_size=2)
    for event_id in ("1", "2", "1", "3"):  # "1" was used again, so "2" is the oldest and is evicted
        dedup.first_delivery(event_id)
    assert isinstance(dedup.store, MemoryStore) and len(dedup.store) == 2
    assert dedup.first_delivery("1") is False
    assert dedup.first_delivery("2") is True


def test_the_redis_store_shares_seen_ids_between_deduplicators():
    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = "ccp-sdk-test:seen:"
    try:
        one, two = Deduplicator(RedisStore(client, prefix=prefix)), Deduplicator(RedisStore(client, prefix=prefix))
        assert one.first_delivery("41") is True
        assert two.first_delivery("41") is False
        assert 0 < client.ttl(prefix + "41") <= 7 * 24 * 3600
    finally:
        client.delete(prefix + "41")
        client.close()


def test_a_receiver_on_http_server_verifies_and_dedupes_real_deliveries():
    """The README's http.server receiver, exercised over real HTTP."""
    dedup = Deduplicator()
    handled: list[dict] = []
    lock = threading.Lock()

    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                verify_signature(SECRET, body, self.headers)
            except InvalidSignature as exc:
                self.send_response(400)
                self.end_headers()
                self.wfile.write(exc.reason.encode())
                return
            with lock:
                if dedup.first_delivery(self.headers):
                    handled.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

    httpd, url = serve(Receiver)
    try:
        headers = signature_headers(SECRET, BODY, event_id="17")
        assert requests.post(url, data=BODY, headers=headers, timeout=5).status_code == 204
        assert requests.post(url, data=BODY, headers=headers, timeout=5).status_code == 204  # redelivery
        tampered = requests.post(url, data=BODY + b" ", headers=headers, timeout=5)
        assert tampered.status_code == 400 and tampered.text == "signature mismatch"
        assert [event["id"] for event in handled] == [17]
    finally:
        httpd.shutdown()
        httpd.server_close()
