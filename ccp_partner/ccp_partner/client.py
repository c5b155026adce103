"""The partner API client: OAuth client-credentials tokens, retries with idempotency keys, typed calls."""

from __future__ import annotations

import email.utils
import http.client
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, cast
from urllib.parse import quote

import requests
import urllib3

from . import __version__
from .errors import AuthenticationError, CcpError, RateLimited, ServerError, TransportError, error_class_for
from .sse import SSEParser, StreamEvent
from .types import (
    Agent,
    AgentStatus,
    Attachment,
    Channel,
    Consent,
    ConsentStatus,
    Conversation,
    Delivery,
    Entry,
    Event,
    EventPage,
    InteractionResult,
    Package,
    Partner,
    RouteResult,
    Subscription,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A POST whose twin (same key) is still running answers this 409; it resolves by itself, so retry.
_RETRY_CODES = frozenset({"idempotency_request_in_progress"})
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout)
_STREAM_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


def _segment(value: str) -> str:
    """An id as one path segment: never lets a caller's id add path components or a query."""
    return quote(str(value), safe="")


def _retry_after_seconds(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class Client:
    """A partner's connection to one ccp platform.

    >>> ccp = Client("https://ccp.example", client_id, client_secret)
    >>> ccp.send_message(to="acme-webchat-1", from_="visitor-42", text="Hello")

    Tokens come from `POST /o/token/` (client credentials, HTTP Basic), are cached and renewed
    `token_refresh_margin` seconds (at most half their lifetime) before they expire, and once more
    when a call answers 401.
    Calls are retried on 429, 5xx and network errors with exponential backoff and full jitter,
    waiting at least `Retry-After` when the server sends it; every POST carries an `Idempotency-Key`
    (a uuid4 unless you pass `idempotency_key=`) that stays the same across the retries of that call,
    so a retried POST never acts twice. Errors raise `CcpError` subclasses carrying the error code.

    `sleep` and `clock` are injectable for tests; the client is safe to share between threads.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        scopes: Iterable[str] | None = None,
        timeout: float = 10,
        max_retries: int = 4,
        session: requests.Session | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 120.0,
        token_refresh_margin: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = list(scopes) if scopes is not None else None
        self.timeout = timeout
        self.max_retries = max_retries
        self.session = session if session is not None else requests.Session()
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.token_refresh_margin = token_refresh_margin
        self._sleep = sleep
        self._clock = clock
        self._token: str | None = None
        self._token_refresh_at = 0.0
        self._token_scopes: list[str] = []
        self._token_lock = threading.Lock()
        self.user_agent = f"ccp-partner-python/{__version__}"

    def close(self) -> None:
        """Close the pooled HTTP connections (the client cannot be used afterwards)."""
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- tokens ------------------------------------------------------------------------------

    @property
    def token_scopes(self) -> list[str]:
        """The scopes granted to the current token (empty before the first call)."""
        return list(self._token_scopes)

    def token(self) -> str:
        """A valid access token: the cached one, or a fresh one when it expires within the margin."""
        with self._token_lock:
            if self._token is None or self._clock() >= self._token_refresh_at:
                self._fetch_token()
            return cast(str, self._token)

    def invalidate_token(self, token: str | None = None) -> None:
        """Drop the cached token (only if it is still `token`, when given: another thread may have renewed it)."""
        with self._token_lock:
            if token is None or token == self._token:
                self._token = None

    def _fetch_token(self) -> None:
        data = {"grant_type": "client_credentials"}
        if self.scopes:
            data["scope"] = " ".join(self.scopes)
        started = self._clock()
        response = self._send_with_retries(
            "POST",
            "/o/token/",
            lambda: {
                "data": data,
                "auth": (self.client_id, self.client_secret),
                "headers": {"Accept": "application/json", "User-Agent": self.user_agent},
            },
        )
        body = self._json(response)
        response.close()
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            error = self._oauth_error(response, body)
            del response  # see request(): a kept exception must not pin the socket
            raise error
        self._token = body["access_token"]
        lifetime = float(body.get("expires_in") or 3600)
        self._token_refresh_at = started + lifetime - min(self.token_refresh_margin, lifetime / 2)
        self._token_scopes = str(body.get("scope") or "").split()

    @staticmethod
    def _oauth_error(response: requests.Response, body: Any) -> CcpError:
        """/o/token/ answers OAuth2 errors (`{"error": "invalid_client"}`), not the ccp envelope."""
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            code, message = body["error"], body.get("error_description") or body["error"]
        else:
            code, message = f"http_{response.status_code}", "The token endpoint did not return a token."
        status = response.status_code
        cls = AuthenticationError if status in (400, 401) and code == "invalid_client" else error_class_for(status)
        return cls(status, code, message, {})

    # --- the request loop --------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.backoff_max, self.backoff_base * (2**attempt)))

    def _send_with_retries(self, method: str, path: str, build: Callable[[], dict[str, Any]]) -> requests.Response:
        """Send, retrying on 429 / 5xx / network errors. `build()` gives the requests kwargs per attempt."""
        url = self.base_url + path
        attempt = 0
        while True:
            try:
                response = self.session.request(method, url, timeout=self.timeout, **build())
            except _NETWORK_ERRORS as exc:
                if attempt >= self.max_retries:
                    raise TransportError(None, "connection_error", f"{method} {path}: {exc}") from exc
                self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            retryable = response.status_code in _RETRY_STATUSES
            if response.status_code == 409:
                retryable = self._error_code(response) in _RETRY_CODES
            if not retryable or attempt >= self.max_retries:
                return response
            wait = _retry_after_seconds(response.headers.get("Retry-After"), time.time())
            if wait is not None and wait > self.max_retry_after:
                return response  # the server asks for longer than we may block: let the caller decide
            response.close()
            self._sleep(wait if wait is not None else self._backoff(attempt))
            attempt += 1

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Call any partner endpoint; returns the decoded JSON (None for 204) or raises a CcpError."""
        method = method.upper()
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if method == "POST":
            headers[IDEMPOTENCY_HEADER] = idempotency_key or str(uuid.uuid4())
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}

        sent_token: list[str] = []

        def build() -> dict[str, Any]:
            # The token is read per attempt, so a retry after a long Retry-After still sends a live one.
            sent_token[:] = [self.token()]
            kwargs: dict[str, Any] = {
                "headers": {**headers, "Authorization": f"Bearer {sent_token[0]}"},
                "params": clean_params,
            }
            if json is not None:
                kwargs["json"] = json
            return kwargs

        response = self._send_with_retries(method, path, build)
        if response.status_code == 401:
            # Revoked or expired early: one fresh token, same idempotency key.
            response.close()
            self.invalidate_token(sent_token[0])
            response = self._send_with_retries(method, path, build)
        if response.status_code >= 400:
            error = self._error(response)
            # The exception's traceback holds this frame: drop the response first, or a caught
            # error would keep its socket open until the garbage collector breaks the cycle.
            response.close()
            del response
            raise error
        try:
            if response.status_code == 204 or not response.content:
                return None
            return self._json(response)
        finally:
            response.close()

    @staticmethod
    def _json(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    @classmethod
    def _error_code(cls, response: requests.Response) -> str | None:
        body = cls._json(response)
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return body["error"].get("code")
        return None

    def _error(self, response: requests.Response) -> CcpError:
        body = self._json(response)
        status = response.status_code
        envelope = body.get("error") if isinstance(body, dict) else None
        if isinstance(envelope, dict):
            code = str(envelope.get("code") or f"http_{status}")
            message = str(envelope.get("message") or response.reason or "")
            details = envelope.get("details") if isinstance(envelope.get("details"), dict) else {}
        else:
            code, message, details = f"http_{status}", (response.text or response.reason or "")[:500], {}
        error = error_class_for(status)(status, code, message, details)
        error.retry_after = _retry_after_seconds(response.headers.get("Retry-After"), time.time())
        return error

    # --- partner --------------------------------------------------------------------------------

    def partner(self) -> Partner:
        """`GET /api/v1/partner/`: who the credentials belong to, with the token's scopes."""
        return self.request("GET", "/api/v1/partner/")

    # --- packages (scope `packages`) ----------------------------------------------------------

    def list_packages(self) -> list[Package]:
        return self.request("GET", "/api/v1/packages/")

    def create_package(self, manifest: Mapping[str, Any], *, idempotency_key: str | None = None) -> Package:
        """Create a draft from a manifest; an invalid one raises ValidationError `invalid_manifest` with details."""
        return self.request("POST", "/api/v1/packages/", json=dict(manifest), idempotency_key=idempotency_key)

    def get_package(self, package_id: str) -> Package:
        return self.request("GET", f"/api/v1/packages/{_segment(package_id)}/")

    def update_package(self, package_id: str, changes: Mapping[str, Any]) -> Package:
        """Edit a draft: top-level manifest fields in `changes` replace the draft's."""
        return self.request("PATCH", f"/api/v1/packages/{_segment(package_id)}/", json=dict(changes))

    def delete_package(self, package_id: str) -> None:
        self.request("DELETE", f"/api/v1/packages/{_segment(package_id)}/")

    def publish_package(self, package_id: str, *, idempotency_key: str | None = None) -> Package:
        return self.request(
            "POST", f"/api/v1/packages/{_segment(package_id)}/publish/", idempotency_key=idempotency_key
        )

    def package_ensure_published(self, manifest: Mapping[str, Any]) -> str:
        """Publish `manifest` unless a version of its channel is published already (a partner keeps
        its package in git and runs this at start): reuses a draft of the same version. Returns
        "already published" or "published"."""
        name = manifest["channel_definition"]["developer_name"]
        mine = [p for p in self.list_packages() if p.get("developer_name") == name]
        if any(p.get("status") == "published" for p in mine):
            return "already published"
        draft = next((p for p in mine if p.get("version") == manifest["version"]), None)
        draft = draft or self.create_package(manifest)
        self.publish_package(draft["id"])
        return "published"

    # --- channels and agents (scopes `interactions` / `routing`) ------------------------------

    def channels(self) -> list[Channel]:
        """Channels of installations of your packages, across tenants."""
        return self.request("GET", "/api/v1/channels/")

    def agents(self, to: str) -> list[Agent]:
        """The agents of the tenant that owns channel `to` (a channel_address_id)."""
        return self.request("GET", "/api/v1/agents/", params={"to": to})

    def set_agent_status(self, agent_id: str, status: AgentStatus) -> Agent:
        """Status sync from your contact-center system: online, busy, away or offline."""
        return self.request("PUT", f"/api/v1/agents/{_segment(agent_id)}/status/", json={"status": status})

    # --- interactions (scope `interactions`) --------------------------------------------------

    def send_interaction(
        self,
        to: str,
        from_: str,
        entries: Iterable[Entry | Mapping[str, Any]],
        from_name: str | None = None,
        *,
        idempotency_key: str | None = None,
        thread: str | None = None,
    ) -> InteractionResult:
        """`POST /api/v1/interactions/`: entries from end user `from_` on channel `to`.

        The platform stores entries idempotently on their `id`; give each a stable id of yours.
        `thread`: your thread key (an e-mail thread): one open conversation per (to, from, thread).
        """
        body: dict[str, Any] = {"to": to, "from": from_, "entries": [dict(e) for e in entries]}
        if from_name is not None:
            body["from_name"] = from_name
        if thread is not None:
            body["thread"] = thread
        return self.request("POST", "/api/v1/interactions/", json=body, idempotency_key=idempotency_key)

    def send_message(
        self,
        to: str,
        from_: str,
        text: str,
        entry_id: str | None = None,
        attachments: Iterable[Attachment | Mapping[str, Any]] | None = None,
        *,
        from_name: str | None = None,
        timestamp: str | None = None,
    ) -> InteractionResult:
        """One `message` entry. Pass your own `entry_id` (the message's id on your side) to make resends safe."""
        entry: dict[str, Any] = {"id": entry_id or str(uuid.uuid4()), "type": "message", "text": text}
        if attachments:
            entry["attachments"] = [dict(a) for a in attachments]
        if timestamp is not None:
            entry["timestamp"] = timestamp
        return self.send_interaction(to, from_, [cast(Entry, entry)], from_name=from_name)

    def send_typing(
        self, to: str, from_: str, *, started: bool = True, entry_id: str | None = None
    ) -> InteractionResult:
        """The end user started (or, with started=False, stopped) typing."""
        entry = {"id": entry_id or str(uuid.uuid4()), "type": "typing_started" if started else "typing_stopped"}
        return self.send_interaction(to, from_, [cast(Entry, entry)])

    def send_receipt(
        self, to: str, from_: str, message_id: str, status: str = "delivered", *, entry_id: str | None = None
    ) -> InteractionResult:
        """A receipt for a ccp message: `delivered`, `read` or `delivery_failed`."""
        if status not in ("delivered", "read", "delivery_failed"):
            raise ValueError("status must be 'delivered', 'read' or 'delivery_failed'")
        entry = {"id": entry_id or str(uuid.uuid4()), "type": status, "message_id": message_id}
        return self.send_interaction(to, from_, [cast(Entry, entry)])

    # --- conversations ------------------------------------------------------------------------

    def get_conversation(self, conversation_id: str) -> Conversation:
        return self.request("GET", f"/api/v1/conversations/{_segment(conversation_id)}/")

    def list_messages(self, conversation_id: str, after: str | None = None) -> Any:
        """Entries of a conversation, oldest first; `after` = a ccp message id to page on from."""
        return self.request(
            "GET", f"/api/v1/conversations/{_segment(conversation_id)}/messages/", params={"after": after}
        )

    def route_conversation(
        self,
        conversation_id: str,
        *,
        agent_id: str | None = None,
        queue: str | None = None,
        routing_request_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> RouteResult:
        """Partner-owned routing (scope `routing`): offer to `agent_id` or put in `queue`."""
        if (agent_id is None) == (queue is None):
            raise ValueError("pass exactly one of agent_id or queue")
        body: dict[str, Any] = {"agent_id": agent_id} if agent_id is not None else {"queue": queue}
        if routing_request_id is not None:
            body["routing_request_id"] = routing_request_id
        return self.request(
            "POST",
            f"/api/v1/conversations/{_segment(conversation_id)}/route/",
            json=body,
            idempotency_key=idempotency_key,
        )

    def close_conversation(self, conversation_id: str, *, idempotency_key: str | None = None) -> Any:
        return self.request(
            "POST", f"/api/v1/conversations/{_segment(conversation_id)}/close/", idempotency_key=idempotency_key
        )

    # --- voice calls (scope `interactions`) -----------------------------------------------------

    def create_call(
        self,
        to: str,
        from_: str,
        call_id: str,
        *,
        from_name: str | None = None,
        direction: str = "inbound",
        started_at: str | None = None,
    ) -> Any:
        """`POST /api/v1/calls/`: a call arrived at call center `to`; `call_id` is your key for it.
        A repeat with the same call_id answers the same body (HTTP 200 instead of 201)."""
        body: dict[str, Any] = {"to": to, "from": from_, "call_id": call_id, "direction": direction}
        if from_name is not None:
            body["from_name"] = from_name
        if started_at is not None:
            body["started_at"] = started_at
        return self.request("POST", "/api/v1/calls/", json=body)

    def get_call(self, call_id: str) -> Any:
        return self.request("GET", f"/api/v1/calls/{_segment(call_id)}/")

    def send_call_event(
        self,
        call_id: str,
        type: str,
        *,
        event_id: str | None = None,
        at: str | None = None,
        reason: str | None = None,
        recording: Mapping[str, Any] | None = None,
    ) -> Any:
        """`ringing`, `connected`, `held`, `resumed`, `ended` (with `reason`) or `recording_ready`
        (with `recording` = {url, duration_seconds, content_type}). Pass your own `event_id` to make
        resends safe; a transition the call's state refuses raises Conflict `invalid_call_transition`."""
        body: dict[str, Any] = {"id": event_id or str(uuid.uuid4()), "type": type}
        if at is not None:
            body["at"] = at
        if reason is not None:
            body["reason"] = reason
        if recording is not None:
            body["recording"] = dict(recording)
        return self.request("POST", f"/api/v1/calls/{_segment(call_id)}/events/", json=body)

    def send_transcript(self, call_id: str, segments: Iterable[Mapping[str, Any]]) -> Any:
        """Transcript segments `{id, speaker, text, start_ms, end_ms, final}`; a final one replaces
        the interim one with the same id."""
        body = {"segments": [dict(s) for s in segments]}
        return self.request("POST", f"/api/v1/calls/{_segment(call_id)}/transcript/", json=body)

    def report_control(self, call_id: str, request_id: str, status: str, reason: str | None = None) -> Any:
        """How a `call.control_requested` went on your telephony system: `done` or `failed`."""
        if status not in ("done", "failed"):
            raise ValueError("status must be 'done' or 'failed'")
        body: dict[str, Any] = {"status": status}
        if reason:
            body["reason"] = reason
        return self.request(
            "POST", f"/api/v1/calls/{_segment(call_id)}/controls/{_segment(request_id)}/result/", json=body
        )

    # --- consent (scope `consent`) ------------------------------------------------------------

    def get_consent(self, to: str, address: str) -> Consent:
        return self.request("GET", "/api/v1/consent/", params={"to": to, "address": address})

    def set_consent(self, to: str, address: str, status: ConsentStatus, source: str | None = None) -> Consent:
        """Record opt_in / opt_out (only when your package's definition makes you the consent owner)."""
        body: dict[str, Any] = {"to": to, "address": address, "status": status}
        if source is not None:
            body["source"] = source
        return self.request("PUT", "/api/v1/consent/", json=body)

    # --- events (scope `events`) --------------------------------------------------------------

    def list_events(self, after: int | str | None = None, limit: int = 100) -> EventPage:
        """Replay, oldest first. Raises Gone (`replay_expired`) when `after` is older than retention."""
        return self.request("GET", "/api/v1/events/", params={"after": after, "limit": limit})

    def iter_events(self, after: int | str | None = None, *, limit: int = 100) -> Iterator[Event]:
        """Every event after `after`, oldest first, paging through `list_events` until caught up."""
        while True:
            page = self.list_events(after=after, limit=limit)
            events = page.get("events") or []
            yield from events
            next_after = page.get("next_after")
            if not events or next_after is None or str(next_after) == str(after):
                return
            after = next_after

    def create_subscription(
        self, url: str, event_types: Iterable[str] = ("*",), *, idempotency_key: str | None = None
    ) -> Subscription:
        """A webhook; the answer's `secret` is shown only once — store it for `verify_signature`."""
        body = {"url": url, "event_types": list(event_types)}
        return self.request("POST", "/api/v1/subscriptions/", json=body, idempotency_key=idempotency_key)

    def get_subscription(self, subscription_id: str) -> Subscription:
        return self.request("GET", f"/api/v1/subscriptions/{_segment(subscription_id)}/")

    def delete_subscription(self, subscription_id: str) -> None:
        self.request("DELETE", f"/api/v1/subscriptions/{_segment(subscription_id)}/")

    def list_deliveries(self, subscription_id: str) -> list[Delivery]:
        return self.request("GET", f"/api/v1/subscriptions/{_segment(subscription_id)}/deliveries/")

    def redeliver(self, subscription_id: str, delivery_id: str, *, idempotency_key: str | None = None) -> Any:
        path = f"/api/v1/subscriptions/{_segment(subscription_id)}/deliveries/{_segment(delivery_id)}/redeliver/"
        return self.request("POST", path, idempotency_key=idempotency_key)

    def stream_events(
        self,
        after: int | str | None = None,
        *,
        read_timeout: float = 45.0,
        max_reconnects: int | None = None,
    ) -> Iterator[StreamEvent]:
        """Follow `GET /api/v1/events/stream/` forever, yielding each event once.

        When the connection drops (or stays silent past `read_timeout`; the server sends a heartbeat
        every 15 s) it reconnects with backoff — never sooner than the stream's `retry:` field or a
        `Retry-After` — sending `Last-Event-ID` (and `after`) = the id of the last event yielded, and
        skips any event it already yielded. `max_reconnects` bounds the consecutive reconnects that
        yield nothing (None: never give up). Break out of the loop to stop.
        """
        last_id = None if after is None else str(after)
        resumed = False
        failures = 0
        refreshed = False
        server_retry = 0.0  # the stream's `retry:` field, in seconds
        while True:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", "User-Agent": self.user_agent}
            params = {}
            if last_id is not None:
                params["after"] = last_id
                if resumed:
                    headers["Last-Event-ID"] = last_id
            sent_token = self.token()
            headers["Authorization"] = f"Bearer {sent_token}"
            yielded = False
            retry_after: float | None = None
            status: int | None = None
            try:
                response = self.session.get(
                    self.base_url + "/api/v1/events/stream/",
                    params=params,
                    headers=headers,
                    stream=True,
                    timeout=(self.timeout, read_timeout),
                )
            except _NETWORK_ERRORS:
                response = None
            if response is not None:
                status = response.status_code
                try:
                    if status == 401 and not refreshed:
                        refreshed = True
                        self.invalidate_token(sent_token)
                        continue
                    if status in _RETRY_STATUSES:
                        retry_after = _retry_after_seconds(response.headers.get("Retry-After"), time.time())
                    elif status >= 400:
                        error = self._error(response)
                        response.close()
                        response = None  # a kept exception must not pin the socket (see request())
                        raise error
                    else:
                        refreshed = False
                        parser = SSEParser()
                        try:
                            for chunk in _iter_chunks(response):
                                for event in parser.feed(chunk):
                                    if event.id is not None and last_id is not None and _not_after(event.id, last_id):
                                        continue  # already yielded before the reconnect
                                    if event.id is not None:
                                        last_id = event.id
                                    yielded = True
                                    failures = 0
                                    yield event
                        except _STREAM_ERRORS:
                            pass  # dropped mid-stream: reconnect below
                        finally:
                            if parser.retry_ms is not None:
                                server_retry = parser.retry_ms / 1000
                finally:
                    if response is not None:
                        response.close()
            resumed = True
            if not yielded:
                failures += 1
                if max_reconnects is not None and failures > max_reconnects:
                    if status is not None and status >= 400:
                        cls = RateLimited if status == 429 else ServerError
                        raise cls(status, f"http_{status}", "The event stream is unavailable.")
                    raise TransportError(None, "stream_unavailable", "The event stream could not be (re)opened.")
            self._sleep(retry_after if retry_after is not None else max(server_retry, self._backoff(failures)))


def _not_after(event_id: str, last_id: str) -> bool:
    """True when `event_id` is not newer than `last_id` (replay ids are increasing integers)."""
    try:
        return int(event_id) <= int(last_id)
    except ValueError:
        return event_id == last_id


def _iter_chunks(response: requests.Response) -> Iterator[bytes]:
    """Bytes as soon as they arrive (iter_content would wait to fill a block and delay events)."""
    raw = response.raw
    read1 = getattr(raw, "read1", None)
    if read1 is None:  # urllib3 < 2
        yield from response.iter_content(chunk_size=1)
        return
    while True:
        chunk = read1(65536)
        if not chunk:
            return
        yield chunk
