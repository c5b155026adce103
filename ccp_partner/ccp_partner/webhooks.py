"""Receiving ccp webhooks: signature verification (with replay protection) and deduplication.

A delivery is `POST <your url>` with the event envelope as body and the headers
`CCP-Event-Id`, `CCP-Timestamp` (unix seconds) and
`CCP-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`.
Delivery is at least once, so receivers dedupe on `CCP-Event-Id`.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol

SIGNATURE_HEADER = "CCP-Signature"
TIMESTAMP_HEADER = "CCP-Timestamp"
EVENT_ID_HEADER = "CCP-Event-Id"


class InvalidSignature(Exception):
    """The delivery cannot be trusted; `reason` says why (answer 400/401 and do not process it)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _header(headers: Any, name: str) -> str | None:
    """Case-insensitive header lookup on a dict, Django/Flask headers or http.server's message."""
    value = headers.get(name) if hasattr(headers, "get") else None
    if value is None and hasattr(headers, "items"):
        lowered = name.lower()
        for key, candidate in headers.items():
            if str(key).lower() == lowered:
                value = candidate
                break
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def compute_signature(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The hex HMAC-SHA256 of `"<timestamp>.<raw body>"` under the subscription's secret."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def signature_headers(
    secret: str | bytes, body: bytes, *, timestamp: int | None = None, event_id: str | None = None
) -> dict[str, str]:
    """The headers ccp would send with `body` — for testing your own receiver."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    headers = {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: f"v1={compute_signature(secret, ts, body)}"}
    if event_id is not None:
        headers[EVENT_ID_HEADER] = event_id
    return headers


def verify_signature(
    secret: str | bytes,
    body: bytes,
    headers: Mapping[str, Any] | Any,
    *,
    tolerance: int = 300,
    now: float | None = None,
) -> int:
    """Check a delivery's signature and freshness; return its timestamp or raise InvalidSignature.

    `body` must be the raw request body exactly as received (not re-serialized JSON). A timestamp
    more than `tolerance` seconds in the past or the future is refused, so a captured delivery
    cannot be replayed later. Several `v1=` values (comma-separated) are accepted, any one matching.
    """
    if not isinstance(body, bytes | bytearray):
        raise TypeError("verify_signature needs the raw body as bytes.")
    raw_ts = _header(headers, TIMESTAMP_HEADER)
    raw_sig = _header(headers, SIGNATURE_HEADER)
    if not raw_ts:
        raise InvalidSignature(f"missing {TIMESTAMP_HEADER} header")
    if not raw_sig:
        raise InvalidSignature(f"missing {SIGNATURE_HEADER} header")
    try:
        timestamp = int(raw_ts.strip())
    except ValueError:
        raise InvalidSignature(f"{TIMESTAMP_HEADER} is not unix seconds: {raw_ts!r}") from None
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise InvalidSignature(f"timestamp too old ({int(current - timestamp)} s > {tolerance} s tolerance)")
    if timestamp > current + tolerance:
        raise InvalidSignature(f"timestamp in the future ({int(timestamp - current)} s > {tolerance} s tolerance)")

    candidates = []
    for part in raw_sig.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == "v1" and value:
            candidates.append(value.strip())
    if not candidates:
        raise InvalidSignature(f"{SIGNATURE_HEADER} has no v1= signature")
    expected = compute_signature(secret, timestamp, bytes(body))
    # Compare against every candidate (no early exit) so timing says nothing about which matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected.encode(), candidate.lower().encode())
    if not matched:
        raise InvalidSignature("signature mismatch")
    return timestamp


class DedupStore(Protocol):
    """Where seen event ids are kept. Implement it over Redis or your database to share it between processes."""

    def add(self, key: str) -> bool:
        """Record `key`; True when it was not there yet (must be atomic)."""
        ...

    def discard(self, key: str) -> None:
        """Forget `key` (processing failed: let the redelivery through)."""
        ...


class MemoryStore:
    """A bounded in-memory LRU of ids (per process; lost on restart)."""

    def __init__(self, max_size: int = 10_000):
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str) -> bool:
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return False
            self._keys[key] = None
            while len(self._keys) > self.max_size:
                self._keys.popitem(last=False)
            return True

    def discard(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)

    def __len__(self) -> int:
        return len(self._keys)


class RedisStore:
    """Seen ids in Redis (`SET key 1 NX EX ttl`), shared by every process; pass any redis-py client."""

    def __init__(self, redis_client: Any, *, prefix: str = "ccp:webhook:seen:", ttl: int = 7 * 24 * 3600):
        self.redis = redis_client
        self.prefix = prefix
        self.ttl = ttl

    def add(self, key: str) -> bool:
        return bool(self.redis.set(self.prefix + key, 1, nx=True, ex=self.ttl))

    def discard(self, key: str) -> None:
        self.redis.delete(self.prefix + key)


class Deduplicator:
    """Drops redeliveries of the same `CCP-Event-Id` (delivery is at least once).

    After verify_signature: skip the event when `first_delivery(headers)` is False; if handling it
    fails, call `forget(headers)` so that ccp's retry of that delivery is processed.
    """

    def __init__(self, store: DedupStore | None = None, *, max_size: int = 10_000):
        self.store: DedupStore = store if store is not None else MemoryStore(max_size)

    @staticmethod
    def _key(event: str | Mapping[str, Any] | Any) -> str:
        if isinstance(event, str | int):
            return str(event)
        key = _header(event, EVENT_ID_HEADER)
        if not key:
            raise InvalidSignature(f"missing {EVENT_ID_HEADER} header")
        return key

    def first_delivery(self, event: str | Mapping[str, Any] | Any) -> bool:
        """Mark the event id (a string, or the request headers) as seen; True the first time only."""
        return self.store.add(self._key(event))

    def forget(self, event: str | Mapping[str, Any] | Any) -> None:
        self.store.discard(self._key(event))
