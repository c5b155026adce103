"""The embedded default, for real: daphne on a SQLite file, the in-memory layer, eager Celery, the
in-process sweeps — no DATABASE_URL, no REDIS_URL — under an agent replying and typing while end users
write, at the same time, over HTTP. What a newcomer gets from `make run` must not answer 500.

The parent (pytest) runs on PostgreSQL; the subprocesses get an environment without its database.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import requests
from websockets.sync.client import connect as ws_connect

from tests.servers import ROOT, daphne_server, wait_for

ROUNDS = 15  # per conversation and writer: 15 replies, 15 typing pairs, 15 end-user messages
STRIPPED = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "DJANGO_SETTINGS_MODULE")


def _embedded_env(db_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED and not k.startswith("PYTEST")}
    # Set to empty rather than only removed: settings treat "" as unset, and a developer's .env
    # (loaded with override=False) then cannot switch the subprocess back to PostgreSQL/Redis.
    env.update(
        DATABASE_URL="",
        REDIS_URL="",
        SQLITE_PATH=str(db_path),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        CCP_INPROCESS_SWEEP="1",  # as ccp_up starts daphne without Redis
        CCP_SWEEP_SECONDS="1",  # sweeps often, so they write while the requests do
    )
    return env


def _manage(env, *args) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    db_path = tmp_path_factory.mktemp("embedded") / "ccp.sqlite3"
    env = _embedded_env(db_path)
    _manage(env, "migrate", "--no-input", "-v", "0")
    demo = json.loads(_manage(env, "ccp_demo", "--json"))
    with daphne_server(env=env, log_path=db_path.parent / "daphne.log") as base:
        # listening is not serving yet: the first page proves the app (and its SQLite file) is up
        wait_for(lambda: _answers(f"{base}/accounts/login/"), timeout=60, what="embedded daphne to answer")
        yield base, demo, db_path


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def _journal_mode(db_path) -> str:
    with sqlite3.connect(db_path) as db:
        return db.execute("PRAGMA journal_mode").fetchone()[0]


class Agent:
    def __init__(self, base: str, username: str, password: str):
        self.base = base
        self.http = requests.Session()
        self.http.get(f"{base}/accounts/login/", timeout=30)
        response = self.http.post(
            f"{base}/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": self.http.cookies["csrftoken"]},
            timeout=30,
            allow_redirects=False,
        )
        assert response.status_code == 302, response.text[:500]

    def listen(self, stack: contextlib.ExitStack) -> None:
        """Open the agent's websocket and collect its frames in a thread (the in-memory layer's pushes)."""
        self.frames: list[dict] = []
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        self.socket = stack.enter_context(
            ws_connect(
                self.base.replace("http://", "ws://") + "/ws/agent/",
                origin=self.base,  # the page's origin: scheme, host and port must match (issue 16)
                additional_headers={"Cookie": cookie},
                open_timeout=30,
            )
        )
        assert json.loads(self.socket.recv(timeout=30))["type"] == "hello"

        def collect():
            try:
                for raw in self.socket:
                    self.frames.append(json.loads(raw))
            except Exception:  # closed at the end of the test
                return

        threading.Thread(target=collect, daemon=True).start()

    def pushed_texts(self, type_: str = "message.created") -> Counter:
        return Counter(f["data"].get("text") for f in list(self.frames) if f["type"] == type_)

    def call(self, method: str, path: str, body=None) -> requests.Response:
        return self.http.request(
            method,
            f"{self.base}{path}",
            json=body,
            headers={"X-CSRFToken": self.http.cookies["csrftoken"]},
            timeout=60,
        )


@pytest.fixture
def sockets():
    with contextlib.ExitStack() as stack:
        yield stack


def test_the_embedded_stack_takes_concurrent_agent_and_end_user_writes(embedded, sockets):
    base, demo, db_path = embedded
    assert _journal_mode(db_path) == "wal"  # WAL is a property of the file, set once per process (ccp.core.sqlite)

    token = requests.post(
        f"{base}/o/token/",
        data={"grant_type": "client_credentials"},
        auth=(demo["partner"]["client_id"], demo["partner"]["client_secret"]),
        timeout=30,
    ).json()["access_token"]
    partner = requests.Session()
    partner.headers["Authorization"] = f"Bearer {token}"
    statuses: Counter = Counter()
    lock = threading.Lock()

    def record(what: str, send) -> requests.Response | None:
        try:
            response = send()
        except requests.RequestException as exc:  # a hung server shows as a timeout: count it
            with lock:
                statuses[(what, type(exc).__name__)] += 1
            return None
        with lock:
            statuses[(what, response.status_code)] += 1
        return response

    def end_user_says(end_user: str, text: str, entry_id: str) -> dict:
        body = {"to": demo["channel_address_id"], "from": end_user, "from_name": end_user, "entries": []}
        body["entries"].append({"id": entry_id, "type": "message", "text": text})
        response = record("inbound", lambda: partner.post(f"{base}/api/v1/interactions/", json=body, timeout=60))
        return response.json() if response is not None else {}

    agents = [Agent(base, a["username"], a["password"]) for a in demo["agents"]]
    for agent in agents:
        assert agent.call("PUT", "/api/v1/agent/status/", {"status": "online"}).status_code == 200
        agent.listen(sockets)

    # two end users, each conversation accepted by whichever agent is offered it
    held: dict[str, tuple[Agent, str]] = {}
    for n, end_user in enumerate(("+15550100", "+15550101")):
        conversation_id = end_user_says(end_user, f"{end_user} hello", f"{end_user}-hello")["conversation_id"]

        def offered():
            for agent in agents:
                for work in agent.call("GET", "/api/v1/agent/state/").json()["work"]:
                    if work["status"] == "offered":
                        return agent, work["work_id"]
            return None

        agent, work_id = wait_for(offered, timeout=30, interval=0.2, what=f"an offer for conversation {n}")
        accepted = agent.call("POST", f"/api/v1/agent/work/{work_id}/accept/")
        assert accepted.status_code == 200, accepted.text
        held[end_user] = (agent, accepted.json()["id"])
        assert accepted.json()["id"] == conversation_id

    def replies(end_user):
        agent, conversation_id = held[end_user]
        for i in range(ROUNDS):
            url = f"/api/v1/agent/conversations/{conversation_id}/messages/"
            record("reply", lambda url=url, i=i: agent.call("POST", url, {"text": f"reply {end_user} {i}"}))

    def typing(end_user):
        agent, conversation_id = held[end_user]
        for typing_now in itertools.islice(itertools.cycle([True, False]), ROUNDS * 2):
            url = f"/api/v1/agent/conversations/{conversation_id}/typing/"
            record("typing", lambda url=url, now=typing_now: agent.call("POST", url, {"typing": now}))

    def writes(end_user):
        for i in range(ROUNDS):
            end_user_says(end_user, f"inbound {end_user} {i}", f"{end_user}-{i}")

    threads = [threading.Thread(target=job, args=(end_user,)) for end_user in held for job in (replies, typing, writes)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "requests did not finish"
    elapsed = time.monotonic() - started

    server_errors = {k: v for k, v in statuses.items() if not isinstance(k[1], int) or k[1] >= 500}
    assert not server_errors, (server_errors, statuses)
    expected = {("reply", 201): 2 * ROUNDS, ("typing", 204): 4 * ROUNDS, ("inbound", 201): 2 * ROUNDS + 2}
    assert dict(statuses) == expected, (dict(statuses), f"{elapsed:.1f} s")

    # every message stored exactly once, as the agent's transcript shows it
    for end_user, (agent, conversation_id) in held.items():
        transcript = agent.call("GET", f"/api/v1/agent/conversations/{conversation_id}/messages/").json()
        texts = Counter(m["text"] for m in transcript if m["direction"] in ("inbound", "outbound"))
        for i in range(ROUNDS):
            assert texts[f"reply {end_user} {i}"] == 1, texts
            assert texts[f"inbound {end_user} {i}"] == 1, texts
        seqs = [m["seq"] for m in transcript] if transcript and "seq" in transcript[0] else []
        assert seqs == sorted(set(seqs))
    # and pushed live to the agent who holds it, through the in-memory channel layer, each once
    for end_user, (agent, _) in held.items():
        wanted = [f"inbound {end_user} {i}" for i in range(ROUNDS)]
        wait_for(
            lambda agent=agent, wanted=wanted: all(agent.pushed_texts()[t] >= 1 for t in wanted),
            timeout=30,
            what=f"the pushes of {end_user}'s messages",
        )
        assert all(agent.pushed_texts()[t] == 1 for t in wanted), agent.pushed_texts()
    # and pushed live to the agent who holds it, through the in-memory channel layer, each once
    for end_user, (agent, _) in held.items():
        wanted = [f"inbound {end_user} {i}" for i in range(ROUNDS)]
        wait_for(
            lambda agent=agent, wanted=wanted: all(agent.pushed_texts()[t] >= 1 for t in wanted),
            timeout=30,
            what=f"the pushes of {end_user}'s messages",
        )
        assert all(agent.pushed_texts()[t] == 1 for t in wanted), agent.pushed_texts()
    with sqlite3.connect(db_path) as db:
        (stored,) = db.execute(
            "SELECT count(*) FROM conversations_message WHERE text LIKE 'reply %' OR text LIKE 'inbound %'"
        ).fetchone()
    assert stored == 4 * ROUNDS


def test_the_supervisors_live_view_works_on_sqlite(embedded, sockets):
    """The real-time report (the supervisor page's live queues and agents, also pushed over
    /ws/supervisor/) runs on the embedded SQLite: a waiting conversation counts in its queue, an
    accepted one leaves it and counts in today's service level; the historical reports answer the
    stable 501 reports_need_postgresql, not a 503 to retry."""
    base, demo, db_path = embedded
    supervisor = Agent(base, demo["supervisor"]["username"], demo["supervisor"]["password"])
    realtime = "/api/v1/agent/reports/realtime/"
    before = supervisor.call("GET", realtime)
    assert before.status_code == 200, before.text[:500]
    names = {a["name"] for a in before.json()["agents"]}
    assert len(names) == len(demo["agents"]) + 1, names  # the demo's agents and the supervisor
    waiting_before = before.json()["totals"]["waiting"]

    cookie = "; ".join(f"{k}={v}" for k, v in supervisor.http.cookies.items())
    socket = sockets.enter_context(
        ws_connect(
            base.replace("http://", "ws://") + "/ws/supervisor/",
            origin=base,
            additional_headers={"Cookie": cookie},
            open_timeout=30,
        )
    )
    first = json.loads(socket.recv(timeout=30))
    assert first["type"] == "realtime.snapshot" and first["data"]["totals"]["waiting"] == waiting_before

    # nobody online: the end user's new conversation waits (in "no queue": the demo routes there)
    agents = [Agent(base, a["username"], a["password"]) for a in demo["agents"]]
    for agent in agents:
        assert agent.call("PUT", "/api/v1/agent/status/", {"status": "offline"}).status_code == 200
    token = requests.post(
        f"{base}/o/token/",
        data={"grant_type": "client_credentials"},
        auth=(demo["partner"]["client_id"], demo["partner"]["client_secret"]),
        timeout=30,
    ).json()["access_token"]
    body = {"to": demo["channel_address_id"], "from": "+15550199", "from_name": "Waiting Walt", "entries": []}
    body["entries"].append({"id": "walt-hello", "type": "message", "text": "anyone there?"})
    inbound = requests.post(
        f"{base}/api/v1/interactions/", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert inbound.status_code == 201, inbound.text[:500]

    report = supervisor.call("GET", realtime).json()
    assert report["totals"]["waiting"] == waiting_before + 1, report
    (row,) = [q for q in report["queues"] if q["waiting"]]
    assert row["waiting"] == waiting_before + 1 and row["oldest_wait_seconds"] >= 0
    assert report["totals"]["agents_online"] == 0 and row["agents_available"] == 0
    assert report["totals"]["agents_offline"] == len(names)

    def pushed(waiting):
        for raw in iter(lambda: socket.recv(timeout=10), None):
            frame = json.loads(raw)
            if frame["type"] == "realtime.snapshot" and frame["data"]["totals"]["waiting"] == waiting:
                return frame["data"]
        return None

    assert pushed(waiting_before + 1) is not None  # the live push, through the in-memory layer

    # the agents come online, one is offered it and accepts: it leaves the queue, answered within
    # the service level (the demo's queue-less work: SERVICE_LEVEL_SECONDS = 20)
    for agent in agents:
        assert agent.call("PUT", "/api/v1/agent/status/", {"status": "online"}).status_code == 200

    def offered():
        for agent in agents:
            for work in agent.call("GET", "/api/v1/agent/state/").json()["work"]:
                if work["status"] == "offered":
                    return agent, work["work_id"]
        return None

    agent, work_id = wait_for(offered, timeout=30, interval=0.2, what="the waiting conversation's offer")
    assert agent.call("POST", f"/api/v1/agent/work/{work_id}/accept/").status_code == 200
    report = supervisor.call("GET", realtime).json()
    assert report["totals"]["waiting"] == waiting_before, report
    assert report["totals"]["agents_online"] == len(agents), report["totals"]
    assert report["totals"]["service_level_today"] == 1.0, report["totals"]
    loads = [a["load"] for a in report["agents"] if a["status"] in ("online", "busy")]
    assert sum(c["used"] for load in loads for c in load.values()) >= 1, loads

    for path in ("/api/v1/agent/reports/summary/", "/api/v1/agent/reports/agents/"):
        response = supervisor.call("GET", path)
        assert response.status_code == 501, (path, response.status_code, response.text[:300])
        error = response.json()["error"]
        assert error["code"] == "reports_need_postgresql" and "DATABASE_URL" in error["message"]
        assert "Retry-After" not in response.headers
    page = supervisor.http.get(f"{base}/supervisor/reports/", timeout=30)
    assert page.status_code == 200 and "Historical reports are computed in PostgreSQL" in page.text
    # the in-process sweeper ran its rounds (the rollup's first one at start) without failing: the
    # rollup, PostgreSQL SQL, is skipped on SQLite
    log = (db_path.parent / "daphne.log").read_text()
    assert "sweep failed" not in log and "no such function" not in log, log[-3000:]
