"""The example channel partner: an end-user web chat plugged into ccp through the public API only.

It talks to the platform with the `ccp_partner` SDK: posts the end user's messages as interactions,
follows the event stream (SSE) to deliver the agents' replies to the browser and answer with
receipts, and — when its package names it routing owner — answers `routing.requested` by picking
the online agent with the most free capacity. It keeps its visitors in memory: it is a demo.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from ccp_partner import CcpError, Client

log = logging.getLogger("webchat_partner")
HERE = Path(__file__).resolve().parent
MANIFEST = json.loads((HERE / "manifest.json").read_text())
OUTBOUND_TYPE = next(e["api_name"] for e in MANIFEST["event_types"] if e.get("outbound_messages"))


class Visitor:
    """One browser tab of the chat page, with the frames waiting for it."""

    def __init__(self, visitor_id: str):
        self.id = visitor_id
        self.frames: queue.Queue[dict] = queue.Queue()
        self.conversation_id: str | None = None


class WebChatPartner:
    def __init__(
        self, *, client: Client, channel_address_id: str, manifest: dict | None = None, state_file: Path | None = None
    ):
        self.client = client
        self.channel = channel_address_id
        self.manifest = manifest or MANIFEST
        self.state_file = state_file
        self.visitors: dict[str, Visitor] = {}
        self.lock = threading.Lock()
        self.connected = False
        self.last_event_id: str | None = None
        self.routed = 0
        self.stopping = threading.Event()

    # --- the platform side ---------------------------------------------------------------------

    def ensure_package(self) -> str:
        """Publish the manifest if this partner has not yet (a partner keeps its package in git)."""
        return self.client.package_ensure_published(self.manifest)

    def start_cursor(self) -> None:
        """Resume after the last event handled (saved in the state file), or start at the newest one:
        a partner that restarts must neither miss events nor re-deliver old replies."""
        if self.state_file is not None and self.state_file.exists():
            self.last_event_id = json.loads(self.state_file.read_text()).get("last_event_id")
            return
        for event in self.client.iter_events(after=None):
            self.last_event_id = str(event["id"])

    def _save_cursor(self) -> None:
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            self.state_file.write_text(json.dumps({"last_event_id": self.last_event_id}))

    def follow_events(self) -> None:
        """Consume the event stream until stopped; the SDK reconnects and resumes by itself."""
        while not self.stopping.is_set():
            try:
                self.connected = True  # the SDK reconnects by itself; only an error it gives up on ends this
                for event in self.client.stream_events(after=self.last_event_id):
                    self.handle(event.event or "", event.json())
                    self.last_event_id = event.id
                    self._save_cursor()
                    if self.stopping.is_set():
                        return
            except CcpError as exc:
                self.connected = False
                log.warning("event stream: %s; retrying", exc)
                self.stopping.wait(2)

    def handle(self, type_: str, envelope: dict) -> None:
        data = envelope.get("data", envelope)
        type_ = envelope.get("type", type_)
        if type_ == OUTBOUND_TYPE:
            payload = data["payload"]
            visitor = self.visitor(data["recipient"])
            visitor.conversation_id = payload.get("conversation_id")
            visitor.frames.put(
                {
                    "kind": "message",
                    "id": payload["message_id"],
                    "text": payload.get("text", ""),
                    "from": payload.get("sender_name") or "Agent",
                    "sender_type": payload.get("sender_type"),
                }
            )
            self.client.send_receipt(self.channel, visitor.id, payload["message_id"], "delivered")
        elif type_ in ("typing.started", "typing.stopped") and data.get("who") == "agent":
            self.visitor(data["end_user"]).frames.put({"kind": "typing", "on": type_ == "typing.started"})
        elif type_ == "work.accepted":
            end_user = (data.get("attributes") or {}).get("end_user")
            if end_user:
                self.visitor(end_user).frames.put({"kind": "status", "text": "An agent joined the chat."})
        elif type_ == "conversation.closed":
            self.visitor(data["end_user"]).frames.put({"kind": "status", "text": "The conversation was closed."})
        elif type_ == "routing.requested":
            self.route(data)

    def route(self, request: dict) -> None:
        """Partner-owned routing: the online agent with the most free messaging capacity."""
        conversation_id = (request.get("attributes") or {}).get("conversation_id")
        excluded = set(request.get("excluded_agents") or [])
        agents = [
            a for a in self.client.agents(self.channel) if a.get("status") == "online" and a["id"] not in excluded
        ]

        def free(agent: dict) -> int:
            cap = (agent.get("capacity") or {}).get("messaging") or {"max": 0, "used": 0}
            return cap["max"] - cap["used"]

        candidates = sorted((a for a in agents if free(a) > 0), key=free, reverse=True)
        for agent in candidates:
            try:
                self.client.route_conversation(
                    conversation_id, agent_id=agent["id"], routing_request_id=request["routing_request_id"]
                )
                self.routed += 1
                log.info("routed %s to %s", conversation_id, agent.get("name"))
                return
            except CcpError as exc:  # taken meanwhile: try the next; the platform falls back after the deadline
                log.info("could not route to %s: %s", agent.get("name"), exc.code)

    def visitor(self, visitor_id: str) -> Visitor:
        with self.lock:
            if visitor_id not in self.visitors:
                self.visitors[visitor_id] = Visitor(visitor_id)
            return self.visitors[visitor_id]

    # --- the end user's side ---------------------------------------------------------------------

    def send(self, visitor_id: str, name: str, text: str, client_id: str) -> dict:
        result = self.client.send_message(self.channel, visitor_id, text, entry_id=client_id, from_name=name or None)
        self.visitor(visitor_id).conversation_id = result["conversation_id"]
        return {"message_id": result["entries"][0]["message_id"], "conversation_id": result["conversation_id"]}

    def typing(self, visitor_id: str, on: bool) -> None:
        self.client.send_typing(self.channel, visitor_id, started=on)

    def read(self, visitor_id: str, message_id: str) -> None:
        self.client.send_receipt(self.channel, visitor_id, message_id, "read")


def make_handler(partner: WebChatPartner, platform_url: str):
    class Handler(BaseHTTPRequestHandler):
        server_version = "webchat-partner/1.0"

        def log_message(self, fmt, *args):  # quieter than the default stderr line per request
            log.debug(fmt, *args)

        def _json(self, status: int, body: dict) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _file(self, name: str) -> None:
            raw = (HERE / "static" / name).read_text().replace("{{CCP_URL}}", platform_url).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path in ("/", "/chat"):
                return self._file("chat.html")
            if url.path == "/connector.html":
                return self._file("connector.html")
            if url.path == "/api/status":
                return self._json(
                    200,
                    {
                        "connected": partner.connected,
                        "channel_address_id": partner.channel,
                        "last_event_id": partner.last_event_id,
                        "visitors": len(partner.visitors),
                        "routed": partner.routed,
                    },
                )
            if url.path == "/api/events":
                visitor = (parse_qs(url.query).get("visitor") or [""])[0]
                if not visitor:
                    return self._json(400, {"error": "visitor is required"})
                return self._stream(partner.visitor(visitor))
            return self._json(404, {"error": "not found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                visitor = str(body.get("visitor") or "")
                if not visitor:
                    return self._json(400, {"error": "visitor is required"})
                if self.path == "/api/send":
                    text = str(body.get("text") or "").strip()
                    if not text:
                        return self._json(400, {"error": "write something first"})
                    result = partner.send(
                        visitor, str(body.get("name") or ""), text, str(body.get("id") or uuid.uuid4())
                    )
                    return self._json(201, result)
                if self.path == "/api/typing":
                    partner.typing(visitor, bool(body.get("typing")))
                    return self._json(202, {})
                if self.path == "/api/read":
                    partner.read(visitor, str(body.get("message_id")))
                    return self._json(202, {})
                return self._json(404, {"error": "not found"})
            except CcpError as exc:
                return self._json(exc.status or 502, {"error": exc.message, "code": exc.code})
            except json.JSONDecodeError:
                return self._json(400, {"error": "send JSON"})

        def _stream(self, visitor: Visitor) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            try:
                self.wfile.write(b": connected\n\n")
                self.wfile.flush()
                while not partner.stopping.is_set():
                    try:
                        frame = visitor.frames.get(timeout=15)
                        self.wfile.write(f"data: {json.dumps(frame)}\n\n".encode())
                    except queue.Empty:
                        self.wfile.write(b": heartbeat\n\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return

    return Handler


def serve(
    *,
    platform_url: str,
    client_id: str,
    client_secret: str,
    channel_address_id: str,
    host: str,
    port: int,
    manifest: dict | None = None,
    state_file: Path | None = None,
):
    """Publish the package if needed, start following events, and return (partner, HTTP server)."""
    client = Client(platform_url, client_id, client_secret)
    partner = WebChatPartner(
        client=client, channel_address_id=channel_address_id, manifest=manifest, state_file=state_file
    )
    for attempt in range(30):  # the platform may still be starting
        try:
            log.info("package: %s", partner.ensure_package())
            break
        except CcpError as exc:
            if attempt == 29:
                raise
            log.info("waiting for the platform (%s)", exc.code)
            time.sleep(1)
    partner.start_cursor()
    threading.Thread(target=partner.follow_events, name="ccp-events", daemon=True).start()
    server = ThreadingHTTPServer((host, port), make_handler(partner, platform_url))
    server.daemon_threads = True
    return partner, server
