"""Latency of the `make run` topology: a partner's inbound message to the agent's websocket, one at a time.

The embedded default exactly as `ccp_up` starts it without DATABASE_URL / REDIS_URL: daphne alone on a
SQLite file (in a temporary directory, migrated and seeded with `ccp_demo`), the in-memory channel layer,
eager Celery and the in-process sweeps (`CCP_INPROCESS_SWEEP=1`). The example partners are not started
(they would only add their own polling to the same cores). One agent logs in, goes online, opens its
websocket and accepts a conversation; then N messages are posted one after the other through
`POST /api/v1/interactions/`, each only after the previous one reached the websocket, and the time from
just before the POST to the `message.created` frame is recorded.

    .venv/bin/python bench/make_run_latency.py -n 300          # p50 / p95 / p99, daphne CPU ms per message
    .venv/bin/python bench/make_run_latency.py -n 300 --json   # the same as one JSON object

Nothing here needs PostgreSQL or Redis. Figures are noisy on a shared box: the load average is printed
beside them, and CPU ms per message (daphne's own) is the figure to compare two checkouts by.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import stack  # noqa: E402

STRIPPED = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "DJANGO_SETTINGS_MODULE")


def embedded_env(db_path: Path, **extra: str) -> dict[str, str]:
    """The environment `make run` gives its processes without PostgreSQL and Redis configured."""
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    env.update(
        DATABASE_URL="",  # empty, not only removed: a developer's .env cannot switch it back
        REDIS_URL="",
        SQLITE_PATH=str(db_path),
        DEBUG="0",
        SECRET_KEY=os.environ.get("SECRET_KEY") or "bench-only-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
        CONSENT_ERASE_SALT=os.environ.get("CONSENT_ERASE_SALT") or "bench-only-salt",
        PARTNER_RATE_LIMIT="10000000/min",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        CCP_INPROCESS_SWEEP="1",  # as ccp_up starts daphne without Redis
        **extra,
    )
    return env


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 1)


class AgentSocket:
    """An agent logged in over HTTP with its websocket read in a thread; `wait(text)` returns when the
    `message.created` of that text arrives (time.perf_counter() of its receipt)."""

    def __init__(self, base: str, username: str, password: str):
        import requests

        self.base = base
        self.http = requests.Session()
        self.http.get(f"{base}/accounts/login/", timeout=30)
        r = self.http.post(
            f"{base}/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": self.http.cookies["csrftoken"]},
            timeout=30,
            allow_redirects=False,
        )
        assert r.status_code == 302, r.text[:300]
        self.arrived: dict[str, float] = {}
        self.offers: list[str] = []
        self.cond = threading.Condition()

    def call(self, method: str, path: str, body=None):
        headers = {"X-CSRFToken": self.http.cookies["csrftoken"]}
        return self.http.request(method, f"{self.base}{path}", json=body, headers=headers, timeout=60)

    def listen(self) -> None:
        from websockets.sync.client import connect

        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        self.socket = connect(
            self.base.replace("http://", "ws://") + "/ws/agent/",
            origin=self.base,
            additional_headers={"Cookie": cookie},
            open_timeout=30,
        )
        assert json.loads(self.socket.recv(timeout=30))["type"] == "hello"
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for raw in self.socket:
                now = time.perf_counter()
                frame = json.loads(raw)
                data = frame.get("data") or {}
                with self.cond:
                    if frame["type"] == "message.created" and data.get("direction") == "inbound":
                        self.arrived[data.get("text", "")] = now
                    elif frame["type"] == "work.offered":
                        self.offers.append(data["work_id"])
                    self.cond.notify_all()
        except Exception:  # closed at the end
            return

    def wait(self, predicate, timeout: float = 30):
        with self.cond:
            if not self.cond.wait_for(predicate, timeout):
                raise TimeoutError("no frame within the timeout")
            return predicate()


def run(messages: int, warmup: int, wrap: list[str] | None = None) -> dict:
    import psutil
    import requests

    with tempfile.TemporaryDirectory(prefix="ccp-make-run-") as tmp:
        db_path = Path(tmp) / "ccp.sqlite3"
        env = embedded_env(db_path)
        for args in (["migrate", "--no-input", "-v", "0"], ["ccp_demo", "--json"]):
            done = subprocess.run(
                [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
            )
        demo = json.loads(done.stdout.strip().splitlines()[-1])
        port = stack.free_port()
        log = open(Path(tmp) / "daphne.log", "wb")  # noqa: SIM115 — closed below, after the server
        # the command ccp_up runs (conversations/management/commands/ccp_up.py)
        command = [sys.executable, *(wrap or []), "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        command.append("ccp.asgi:application")
        daphne = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            stack.wait_port(port, daphne)
            token = requests.post(
                f"{base}/o/token/",
                data={"grant_type": "client_credentials"},
                auth=(demo["partner"]["client_id"], demo["partner"]["client_secret"]),
                timeout=30,
            ).json()["access_token"]
            partner = requests.Session()
            partner.headers["Authorization"] = f"Bearer {token}"
            agents = [AgentSocket(base, a["username"], a["password"]) for a in demo["agents"]]
            for agent in agents:
                assert agent.call("PUT", "/api/v1/agent/status/", {"status": "online"}).status_code == 200
                agent.listen()

            end_user = "+15550199"

            def say(text: str, entry_id: str):
                body = {"to": demo["channel_address_id"], "from": end_user, "from_name": "Bench", "entries": []}
                body["entries"].append({"id": entry_id, "type": "message", "text": text})
                r = partner.post(f"{base}/api/v1/interactions/", json=body, timeout=60)
                assert r.status_code == 201, r.text[:300]
                return r

            say("hello", "hello")
            deadline = time.monotonic() + 30
            holder = None
            while holder is None and time.monotonic() < deadline:
                holder = next((a for a in agents if a.offers), None)
                time.sleep(0.02)
            assert holder is not None, "no agent was offered the conversation"
            accepted = holder.call("POST", f"/api/v1/agent/work/{holder.offers[0]}/accept/")
            assert accepted.status_code == 200, accepted.text[:300]

            server = psutil.Process(daphne.pid)
            latencies, http_ms = [], []
            cpu0 = None
            for i in range(warmup + messages):
                if i == warmup:
                    t = server.cpu_times()
                    cpu0, wall0 = t.user + t.system, time.perf_counter()
                text = f"sequential {i}"
                sent = time.perf_counter()
                say(text, f"seq-{i}")
                answered = time.perf_counter()
                received = holder.wait(lambda text=text: holder.arrived.get(text))
                if i >= warmup:
                    latencies.append((received - sent) * 1000)
                    http_ms.append((answered - sent) * 1000)
            t = server.cpu_times()
            cpu_ms = (t.user + t.system - cpu0) * 1000 / messages
            wall = time.perf_counter() - wall0
        finally:
            daphne.terminate()
            try:
                daphne.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daphne.kill()
            log.close()
    return {
        "topology": "make run (embedded: daphne alone, SQLite, in-memory layer, eager Celery)",
        "messages": messages,
        "ws_ms": {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "max": round(max(latencies), 1),
            "mean": round(statistics.fmean(latencies), 1),
        },
        "http_ms": {"p50": percentile(http_ms, 50), "p99": percentile(http_ms, 99)},
        "daphne_cpu_ms_per_message": round(cpu_ms, 2),
        "messages_per_s": round(messages / wall, 1),
        "loadavg": stack.loadavg(),
        "cpus": os.cpu_count(),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--messages", type=int, default=300)
    p.add_argument("--warmup", type=int, default=20, help="messages sent first and not counted")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--wrap", nargs="*", help="run daphne as `python WRAP… -m daphne …` (e.g. a sampling profiler)")
    args = p.parse_args(argv)
    result = run(args.messages, args.warmup, args.wrap)
    if args.json:
        print(json.dumps(result))
    else:
        ws, http = result["ws_ms"], result["http_ms"]
        print(f"{result['topology']}, {result['messages']} sequential inbound messages")
        print(f"  POST -> agent websocket message.created: p50 {ws['p50']} ms  p95 {ws['p95']} ms  p99 {ws['p99']} ms")
        print(f"  POST answered: p50 {http['p50']} ms  p99 {http['p99']} ms")
        print(f"  daphne CPU per message: {result['daphne_cpu_ms_per_message']} ms; {result['messages_per_s']} msg/s")
        print(f"  loadavg {result['loadavg']} on {result['cpus']} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
