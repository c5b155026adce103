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
    with daphne_server(env=env) as base:
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
    assert _journal_mode(db_path) == "wal"  # WAL is a property of the file, set by every connection

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
