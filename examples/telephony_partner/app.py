"""The example telephony partner: a browser "phone" plugged into a ccp call center through the public
API only (bring-your-own telephony, docs/voice.md).

An end user places a call from the phone page; the partner creates it (`POST /api/v1/calls/`) and
reports it ringing. Its speech-to-text stand-in turns each typed line into transcript segments, an
interim one and then the final one. It follows the event stream (SSE) for `call.control_requested`:
it "executes" each control on its telephony system (answer connects, hold holds, hang-up ends the
call…), reports the call's new state and the control's result, and shows the end user what the
agent did. After a call it serves a generated WAV file as the recording. It keeps its calls in
memory: it is a demo.
"""

from __future__ import annotations

import io
import json
import logging
import math
import queue
import struct
import threading
import time
import uuid
import wave
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from ccp_partner import CcpError, Client

log = logging.getLogger("telephony_partner")
HERE = Path(__file__).resolve().parent
MANIFEST = json.loads((HERE / "manifest.json").read_text())
RECORDING_SECONDS = 2


def recording_wav(seconds: int = RECORDING_SECONDS, rate: int = 8000) -> bytes:
    """The "recording": a quiet two-tone beep as a mono 16-bit WAV (stdlib `wave`)."""
    frames = bytearray()
    for n in range(seconds * rate):
        tone = 440 if (n // (rate // 2)) % 2 == 0 else 660
        frames += struct.pack("<h", int(6000 * math.sin(2 * math.pi * tone * n / rate)))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return out.getvalue()


class PhoneCall:
    """One call of the phone page, with the frames waiting for the page."""

    def __init__(self, call_id: str, phone: str, name: str):
        self.id = call_id
        self.phone = phone
        self.name = name
        self.status = "queued"
        self.frames: queue.Queue[dict] = queue.Queue()
        self.conversation_id: str | None = None
        self.lines = 0
        self.started = time.monotonic()

    def show(self, kind: str, **fields) -> None:
        self.frames.put({"kind": kind, **fields})


class TelephonyPartner:
    def __init__(self, *, client: Client, channel_address_id: str, public_url: str, manifest: dict | None = None):
        self.client = client
        self.channel = channel_address_id
        self.public_url = public_url.rstrip("/")
        self.manifest = manifest or MANIFEST
        self.calls: dict[str, PhoneCall] = {}
        self.lock = threading.Lock()
        self.connected = False
        self.last_event_id: str | None = None
        self.controls_done = 0
        self.stopping = threading.Event()
        self.wav = recording_wav()

    # --- the platform side ---------------------------------------------------------------------

    def ensure_package(self) -> str:
        """Publish the manifest if this partner has not yet (a partner keeps its package in git)."""
        return self.client.package_ensure_published(self.manifest)

    def start_cursor(self) -> None:
        """Start at the newest event: controls of calls from before a restart are gone with them."""
        for event in self.client.iter_events(after=None):
            self.last_event_id = str(event["id"])

    def follow_events(self) -> None:
        while not self.stopping.is_set():
            try:
                self.connected = True
                for event in self.client.stream_events(after=self.last_event_id):
                    try:
                        self.handle(event.json())
                    except CcpError as exc:  # one refused report must not stop the stream
                        log.warning("handling %s: %s", event.event, exc)
                    self.last_event_id = event.id
                    if self.stopping.is_set():
                        return
            except CcpError as exc:
                self.connected = False
                log.warning("event stream: %s; retrying", exc)
                self.stopping.wait(2)

    def handle(self, envelope: dict) -> None:
        type_, data = envelope.get("type"), envelope.get("data") or {}
        if type_ == "call.control_requested":
            self.execute(data)
        elif type_ == "message.created" and data.get("direction") == "outbound":
            call = self.call_of_conversation(data.get("conversation_id"))
            if call is not None:
                call.show("line", who=data.get("sender_name") or "Agent", text=data.get("text", ""))
        elif type_ == "call.state_changed" and data.get("call_id") in self.calls:
            self.calls[data["call_id"]].status = data["status"]

    def call_of_conversation(self, conversation_id: str | None) -> PhoneCall | None:
        return next((c for c in self.calls.values() if c.conversation_id == conversation_id), None)

    def execute(self, control: dict) -> None:
        """Carry out a control on the "telephony system", then report the call's state and the result."""
        call_id, action, request_id = control["call_id"], control["action"], control["request_id"]
        call = self.calls.get(call_id)
        if action == "dial":
            call = self.phone(call_id, (control.get("target") or {}).get("address", ""), "")
            self.event(call, "ringing")
            self.event(call, "connected")
            call.show("status", text="You are called by an agent.")
        elif call is None:
            self.client.report_control(call_id, request_id, "failed", reason="this phone does not know the call")
            return
        elif action == "answer":
            self.event(call, "connected")
            call.show("status", text="An agent answered.")
        elif action == "hold":
            self.event(call, "held")
            call.show("status", text="You are on hold.")
        elif action == "resume":
            self.event(call, "resumed")
            call.show("status", text="The agent is back.")
        elif action == "hangup":
            self.end(call, "completed")
            call.show("status", text="The agent hung up.")
        elif action == "transfer":
            target = control.get("target") or {}
            if "address" in target:
                self.end(call, "transferred")
                call.show("status", text=f"You are transferred to {target['address']}.")
            else:
                call.show("status", text="You are being transferred to a colleague.")
        elif action == "send_dtmf":
            call.show("status", text=f"The agent sent the tones {control.get('digits', '')}.")
        elif action in ("mute", "unmute", "pause_recording", "resume_recording"):
            call.show("status", text={"mute": "The agent muted.", "unmute": "The agent unmuted."}.get(action, ""))
        self.client.report_control(call_id, request_id, "done")
        self.controls_done += 1

    def event(self, call: PhoneCall, type_: str, **fields) -> None:
        try:
            self.client.send_call_event(call.id, type_, event_id=f"{call.id}-{type_}-{uuid.uuid4().hex[:8]}", **fields)
        except CcpError as exc:
            if exc.code != "invalid_call_transition":
                raise
            log.info("call %s is already past %s", call.id, type_)  # e.g. connected again after a transfer

    def end(self, call: PhoneCall, reason: str) -> None:
        if call.status == "ended":
            return
        call.status = "ended"
        self.event(call, "ended", reason=reason)
        recording = {
            "url": f"{self.public_url}/recordings/{call.id}.wav",
            "duration_seconds": RECORDING_SECONDS,
            "content_type": "audio/wav",
        }
        self.event(call, "recording_ready", recording=recording)
        call.show("ended", reason=reason)

    # --- the end user's side ---------------------------------------------------------------------

    def phone(self, call_id: str, number: str, name: str) -> PhoneCall:
        with self.lock:
            if call_id not in self.calls:
                self.calls[call_id] = PhoneCall(call_id, number, name)
            return self.calls[call_id]

    def place_call(self, number: str, name: str) -> PhoneCall:
        call = self.phone(f"demo-{uuid.uuid4().hex[:12]}", number, name)
        created = self.client.create_call(self.channel, number, call.id, from_name=name or None)
        call.conversation_id = created["conversation_id"]
        self.event(call, "ringing")
        call.status = "ringing"
        return call

    def say(self, call: PhoneCall, text: str) -> None:
        """The speech-to-text stand-in: the first words as an interim segment, then the whole line."""
        call.lines += 1
        segment_id = f"{call.id}-line-{call.lines}"
        start = int((time.monotonic() - call.started) * 1000)
        end = start + 60 * max(1, len(text.split())) * 5
        words = text.split()
        interim = " ".join(words[: max(1, len(words) // 2)])
        base = {"id": segment_id, "speaker": "end_user", "start_ms": start, "end_ms": end}
        self.client.send_transcript(call.id, [{**base, "text": interim, "final": False}])
        self.client.send_transcript(call.id, [{**base, "text": text, "final": True}])

    def hang_up(self, call: PhoneCall) -> None:
        self.end(call, "completed")


def make_handler(partner: TelephonyPartner, platform_url: str):
    class Handler(BaseHTTPRequestHandler):
        server_version = "telephony-partner/1.0"

        def log_message(self, fmt, *args):
            log.debug(fmt, *args)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, body: dict) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _file(self, name: str, content_type: str) -> None:
            raw = (HERE / "static" / name).read_text().replace("{{CCP_URL}}", platform_url).encode()
            self._send(200, raw, content_type)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path in ("/", "/phone"):
                return self._file("phone.html", "text/html; charset=utf-8")
            if url.path == "/phone.js":
                return self._file("phone.js", "text/javascript; charset=utf-8")
            if url.path == "/connector.html":
                return self._file("connector.html", "text/html; charset=utf-8")
            if url.path.startswith("/recordings/") and url.path.endswith(".wav"):
                if url.path[len("/recordings/") : -4] not in partner.calls:
                    return self._json(404, {"error": "no such recording"})
                return self._send(200, partner.wav, "audio/wav")
            if url.path == "/api/status":
                return self._json(
                    200,
                    {
                        "connected": partner.connected,
                        "channel_address_id": partner.channel,
                        "calls": len(partner.calls),
                        "controls_done": partner.controls_done,
                    },
                )
            if url.path == "/api/events":
                call = partner.calls.get((parse_qs(url.query).get("call") or [""])[0])
                if call is None:
                    return self._json(404, {"error": "no such call"})
                return self._stream(call)
            return self._json(404, {"error": "not found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/api/call":
                    number = str(body.get("phone") or "").strip()
                    if not number:
                        return self._json(400, {"error": "give your phone number"})
                    call = partner.place_call(number, str(body.get("name") or "").strip())
                    return self._json(201, {"call_id": call.id, "conversation_id": call.conversation_id})
                call = partner.calls.get(str(body.get("call_id") or ""))
                if call is None:
                    return self._json(404, {"error": "no such call"})
                if self.path == "/api/say":
                    text = str(body.get("text") or "").strip()
                    if not text:
                        return self._json(400, {"error": "say something first"})
                    partner.say(call, text)
                    return self._json(202, {})
                if self.path == "/api/hangup":
                    partner.hang_up(call)
                    return self._json(202, {})
                return self._json(404, {"error": "not found"})
            except CcpError as exc:
                return self._json(exc.status or 502, {"error": exc.message, "code": exc.code})
            except json.JSONDecodeError:
                return self._json(400, {"error": "send JSON"})

        def _stream(self, call: PhoneCall) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            try:
                self.wfile.write(b": connected\n\n")
                self.wfile.flush()
                while not partner.stopping.is_set():
                    try:
                        frame = call.frames.get(timeout=15)
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
    public_url: str | None = None,
    manifest: dict | None = None,
):
    """Publish the package if needed, start following events, and return (partner, HTTP server).
    `port` 0 picks a free one; `public_url` (where recordings are served) defaults to the server's."""
    client = Client(platform_url, client_id, client_secret)
    server = ThreadingHTTPServer((host, port), BaseHTTPRequestHandler)
    server.daemon_threads = True
    public = public_url or f"http://{host}:{server.server_address[1]}"
    partner = TelephonyPartner(
        client=client, channel_address_id=channel_address_id, public_url=public, manifest=manifest
    )
    server.RequestHandlerClass = make_handler(partner, platform_url)
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
    return partner, server
