"""Real local HTTP servers for SDK tests: a recording server with scripted answers, and a lossy proxy.

They run `http.server` in a thread on 127.0.0.1 with an OS-chosen port; the SDK talks real HTTP to them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


# A scripted answer: (status, headers, json body) or a function that writes the response itself.
Answer = tuple[int, dict[str, str], Any] | Callable[[BaseHTTPRequestHandler, Recorded], None]


@dataclass
class RecordingServer:
    """Answers `/o/token/` with a fresh token, every other call with the next scripted answer (else 200 `{}`)."""

    answers: list[Answer] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    token_requests: list[Recorded] = field(default_factory=list)
    url: str = ""
    token_lifetime: int = 3600
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def next_answer(self, recorded: Recorded) -> Answer:
        with self._lock:
            if recorded.path == "/o/token/":
                self.token_requests.append(recorded)
                n = len(self.token_requests)
                return (
                    200,
                    {},
                    {"access_token": f"token-{n}", "token_type": "Bearer", "expires_in": self.token_lifetime},
                )
            self.requests.append(recorded)
            return self.answers.pop(0) if self.answers else (200, {}, {})


def _handler_for(server: RecordingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # keep test output clean
            pass

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            recorded = Recorded(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
            answer = server.next_answer(recorded)
            if callable(answer):
                answer(self, recorded)
                return
            status, headers, payload = answer
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def serve(handler: type[BaseHTTPRequestHandler]):
    """Start `handler` on 127.0.0.1:<free port> in a thread; returns (httpd, base_url)."""
    httpd = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def start_recording_server() -> tuple[RecordingServer, ThreadingHTTPServer]:
    recorder = RecordingServer()
    httpd, recorder.url = serve(_handler_for(recorder))
    return recorder, httpd


def start_lossy_proxy(upstream: str, *, lose: Callable[[str, str, int], bool]):
    """A proxy to `upstream` that forwards every request but, when `lose(method, path, n)` says so,
    drops the upstream's answer and replies 502 instead — a response lost on the way back."""
    counts: dict[tuple[str, str], int] = {}
    seen: list[Recorded] = []
    lock = threading.Lock()

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):
            pass

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            with lock:
                n = counts[(self.command, path)] = counts.get((self.command, path), 0) + 1
                seen.append(Recorded(self.command, path, {}, dict(self.headers.items()), body))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            upstream_response = requests.request(
                self.command, upstream + self.path, headers=headers, data=body, timeout=30
            )
            if lose(self.command, path, n):
                status, data, content_type = 502, b"<html>Bad gateway</html>", "text/html"
            else:
                status, data = upstream_response.status_code, upstream_response.content
                content_type = upstream_response.headers.get("Content-Type", "application/json")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if upstream_response.headers.get("Idempotent-Replayed"):
                self.send_header("Idempotent-Replayed", upstream_response.headers["Idempotent-Replayed"])
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    httpd, url = serve(Proxy)
    return httpd, url, seen
