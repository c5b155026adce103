"""Test doubles that are real: a chat-completions HTTP server on 127.0.0.1 and synthetic routing data."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatServer:
    """Speaks POST /chat/completions. Tell it what to do next: answer, be slow, fail, or talk nonsense."""

    def __init__(self) -> None:
        self.content = '{"agent_id": "a1", "skill": null, "reason": "ok"}'
        self.delay = 0.0
        self.status = 200
        self.raw_body: str | None = None  # when set, sent instead of a chat completion
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if server.delay:
                    time.sleep(server.delay)
                if server.raw_body is not None:
                    payload = server.raw_body.encode()
                elif server.status >= 400:
                    payload = json.dumps({"error": {"message": "model exploded"}}).encode()
                else:
                    payload = json.dumps(
                        {
                            "id": "cmpl-1",
                            "object": "chat.completion",
                            "model": body.get("model"),
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": server.content}}],
                        }
                    ).encode()
                try:
                    self.send_response(server.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            def log_message(self, format, *args) -> None:  # keep pytest output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def closed_port_url() -> str:
    """A URL nobody listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# Synthetic customer messages: (intent, skill group, phrasings). Written for these tests.
INTENTS = {
    "card_lost": ("cards", ["I lost my card", "my card was stolen", "block my card please", "someone took my card"]),
    "card_arrival": ("cards", ["my new card has not arrived", "when will my card come", "card delivery is late"]),
    "transfer_failed": (
        "transfers",
        ["my transfer failed", "the bank transfer did not go through", "payment to my friend was rejected"],
    ),
    "transfer_pending": ("transfers", ["my transfer is still pending", "why is the transfer taking so long"]),
    "top_up_failed": ("top_up", ["my top up failed", "could not add money with my top up", "top up declined"]),
    "top_up_limit": ("top_up", ["what is the top up limit", "how much can I top up", "maximum top up amount"]),
}
FILLERS = ["", "today", "yesterday", "again", "help", "urgent", "since Monday", "what should I do", "thanks"]


def synthetic_rows(*, per_intent: int = 50, seed: int = 3) -> list[tuple[str, str]]:
    """(text, intent) rows: each phrasing with random filler words around it."""
    rng = random.Random(seed)
    rows = []
    for intent, (_skill, phrasings) in INTENTS.items():
        for _ in range(per_intent):
            text = " ".join(part for part in (rng.choice(FILLERS), rng.choice(phrasings), rng.choice(FILLERS)) if part)
            rows.append((text, intent))
    return rows


def skill_of(intent: str) -> str:
    return INTENTS[intent][0]
