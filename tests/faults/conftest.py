"""The fault tests' stack: daphne and Celery workers in subprocesses on the test database, a webhook
receiver, a private redis-server a test may stop, and HTTP drivers for a partner and an agent.

Nothing here touches the shared services: Redis faults use a redis-server of their own on a free
port, PostgreSQL faults terminate only the backends tagged with the test server's application_name
in this run's database.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from rest_framework.test import APIClient

from ccp.celery import app as celery_app
from ccp.events import services as event_services
from conversations.models import Message
from routing.models import AgentWork
from tests.conversations.conftest import install, online
from tests.events.conftest import Receiver
from tests.factories import MembershipFactory, connected_app_for
from tests.helpers import partner_client, token_for
from tests.servers import celery_worker_process, daphne_server, free_port, wait_for

CHANNEL = "+15550009"
CSRF = "faultsfaultsfaultsfaultsfaults01"  # 32 characters: Django accepts an unmasked secret as header


def server_env(redis_url: str) -> dict[str, str]:
    """What daphne and the workers share: this run's queue, quick claims, sweeps and backoff."""
    return {
        "REDIS_URL": redis_url,
        "CELERY_QUEUE": celery_app.conf.task_default_queue,
        "EVENTS_DELIVERY_CLAIM_SECONDS": "6",
        # a SIGKILLed worker's per-partner attempt slots lapse after the deadline + 2 s
        "EVENTS_DELIVERY_DEADLINE_SECONDS": "4",
        "EVENTS_SWEEP_GRACE_SECONDS": "3",  # the sweep re-queues only what a task has not taken by then
        "EVENTS_DELIVERY_BACKOFF_BASE_SECONDS": "0.1",
        "EVENTS_DELIVERY_BACKOFF_MAX_SECONDS": "1",
        "WEBHOOK_ALLOW_LOOPBACK": "1",
        "REDIS_DOWN_BACKOFF_SECONDS": "1",
        "LOG_LEVEL": "ERROR",
    }


def platform(redis_url: str, log_path):
    """daphne on the test database running the in-process sweeps every second (the outbox sweep is
    the catch-up path); its log goes to `log_path`."""
    return daphne_server(log_path=log_path, CCP_INPROCESS_SWEEP="1", CCP_SWEEP_SECONDS="1", **server_env(redis_url))


def server_log_errors(log_path) -> str:
    """The server's logged errors, for a failing assertion's message."""
    text = Path(log_path).read_text(errors="replace") if Path(log_path).exists() else ""
    return text[-6000:]


class Workers:
    """Real `celery worker` processes (threads pool) on the test database; a test may SIGKILL one."""

    def __init__(self, redis_url: str):
        self.env = {"LOG_LEVEL": "ERROR", **server_env(redis_url)}
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        process = celery_worker_process(queue=celery_app.conf.task_default_queue, env=self.env, concurrency=4)
        self.processes.append(process)
        return process

    def revive(self) -> int:
        """Start again every worker that exited, as a process supervisor would (a Celery worker can
        exit on a broker connection reset: a known kombu failure while Redis restarts). Returns how
        many had exited."""
        dead = [p for p in self.processes if p.poll() is not None]
        for process in dead:
            self.processes.remove(process)
            self.start()
        return len(dead)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=20)


class PrivateRedis:
    """A redis-server of this test only (no persistence), which the test may stop and start again."""

    def __init__(self):
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "the fault tests need redis-server on PATH"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        def up():
            try:
                return redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
            except redis.RedisError:
                return False

        wait_for(up, timeout=10, what="the private redis-server")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)  # an outage, not a graceful shutdown
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def workers_factory(transactional_db):
    made: list[Workers] = []

    def make(redis_url: str) -> Workers:
        made.append(Workers(redis_url))
        return made[-1]

    celery_app.control.purge()
    yield make
    for workers in made:
        workers.stop_all()
    celery_app.control.purge()


@dataclass
class World:
    """A tenant with an installed channel, an online agent holding `conversations` open conversations,
    a partner token, the agent's session cookie and a webhook receiving every partner event."""

    token: str
    session_key: str
    senders: list[str]
    conversation_ids: list[str]
    receiver: Receiver
    channel: str = CHANNEL


@pytest.fixture
def world(transactional_db, tenant, partner, settings) -> World:
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    install(tenant, partner, address=CHANNEL)
    agent = MembershipFactory(tenant=tenant, role="agent", display_name="Alice")
    online(agent, {"messaging": 20})
    app, _ = connected_app_for(partner)
    token = token_for(app)
    api = partner_client(token)
    senders = [f"+49151000{i:03d}" for i in range(4)]
    conversation_ids = []
    agent_api = APIClient()
    agent_api.force_login(agent.user)
    for sender in senders:
        response = api.post(
            "/api/v1/interactions/",
            {"to": CHANNEL, "from": sender, "entries": [{"id": f"open-{sender}", "type": "message", "text": "hi"}]},
            format="json",
        )
        assert response.status_code == 201, response.content
        conversation_ids.append(response.json()["conversation_id"])
        work = AgentWork.objects.get(status="offered", agent=agent)
        assert agent_api.post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
    receiver = Receiver().start()
    event_services.subscription_create(partner=partner, url=receiver.url, event_types=["*"])
    session = SessionStore()  # in the database only: any server, whatever its Redis, reads it
    session[SESSION_KEY] = str(agent.user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = agent.user.get_session_auth_hash()
    session.create()
    yield World(token, session.session_key, senders, conversation_ids, receiver)
    receiver.stop()


@dataclass
class Outcome:
    kind: str  # "reply" | "inbound"
    key: str  # the reply's text / the partner's entry id
    status: int  # 0: no HTTP answer (connection refused or reset)
    at: float
    message_id: str | None = None


@dataclass
class Traffic:
    """Agent replies and partner interactions sent from threads until `stop`; every outcome kept.

    The partner retries an entry (same entry id) until it is taken, as a partner should; the agent
    does not retry, so every answered reply is either stored exactly once (201) or not at all.
    """

    base_url: str
    world: World
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def _record(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)

    def _agent(self, n: int) -> None:
        session = requests.Session()
        headers = {"Cookie": f"sessionid={self.world.session_key}; csrftoken={CSRF}", "X-CSRFToken": CSRF}
        i = 0
        while not self.stop.is_set():
            conversation = self.world.conversation_ids[(n + i) % len(self.world.conversation_ids)]
            text = f"reply-{n}-{i}"
            i += 1
            url = f"{self.base_url}/api/v1/agent/conversations/{conversation}/messages/"
            try:
                r = session.post(url, json={"text": text}, headers=headers, timeout=15)
                status, message_id = r.status_code, (r.json().get("id") if r.status_code == 201 else None)
            except requests.RequestException:
                status, message_id = 0, None
                session = requests.Session()
            self._record(Outcome("reply", text, status, time.monotonic(), message_id))
            time.sleep(0.02)

    def _partner(self, n: int) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {self.world.token}"}
        i = 0
        while not self.stop.is_set():
            sender = self.world.senders[(n + i) % len(self.world.senders)]
            entry = f"in-{n}-{i}"
            i += 1
            body = {
                "to": self.world.channel,
                "from": sender,
                "entries": [{"id": entry, "type": "message", "text": entry}],
            }
            deadline = time.monotonic() + 30
            while True:  # a partner retries until the entry is taken (same id: never stored twice)
                try:
                    r = session.post(f"{self.base_url}/api/v1/interactions/", json=body, headers=headers, timeout=15)
                    status = r.status_code
                except requests.RequestException:
                    status = 0
                    session = requests.Session()
                self._record(Outcome("inbound", entry, status, time.monotonic()))
                if status == 201 or time.monotonic() > deadline or 400 <= status < 500:
                    break
                time.sleep(0.2)
            time.sleep(0.02)

    def start(self, agents: int = 2, partners: int = 2) -> Traffic:
        for n in range(agents):
            self.threads.append(threading.Thread(target=self._agent, args=(n,), daemon=True))
        for n in range(partners):
            self.threads.append(threading.Thread(target=self._partner, args=(n,), daemon=True))
        for thread in self.threads:
            thread.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=40)
            assert not thread.is_alive(), "a driver thread is stuck"

    # --- what the assertions need -------------------------------------------------------------

    def by_status(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return dict(sorted(counts.items()))

    def server_errors_other_than_503(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status >= 500 and o.status != 503]

    def accepted_replies(self) -> dict[str, str]:
        return {o.key: o.message_id for o in self.outcomes if o.kind == "reply" and o.status == 201}

    def refused_replies(self) -> set[str]:
        return {o.key for o in self.outcomes if o.kind == "reply" and o.status in (0, 503)}

    def accepted_entries(self) -> set[str]:
        return {o.key for o in self.outcomes if o.kind == "inbound" and o.status == 201}

    def given_up_entries(self) -> set[str]:
        return {o.key for o in self.outcomes if o.kind == "inbound"} - self.accepted_entries()


def received_reply_ids(receiver: Receiver) -> set[str]:
    """Message ids of the agents' replies among the webhook deliveries (any number of duplicates)."""
    ids = set()
    for r in receiver.succeeded():
        data = json.loads(r["body"]).get("data", {})
        payload = data.get("payload") or {}
        if payload.get("sender_type") == "agent" and payload.get("message_id"):
            ids.add(payload["message_id"])
        elif data.get("direction") == "outbound" and data.get("id"):
            ids.add(data["id"])
    return ids


def assert_nothing_lost_nor_doubled(traffic: Traffic, world: World, log_path, *, deliveries_within: float = 45) -> dict:
    """Zero 5xx but 503; every accepted reply and entry stored exactly once, every refused reply not at
    all; every accepted reply delivered to the partner's webhook. Returns figures for the output."""
    errors = traffic.server_errors_other_than_503()
    assert not errors, f"{errors[:5]}\n--- server log ---\n{server_log_errors(log_path)}"
    replies = traffic.accepted_replies()
    assert replies, "no reply was accepted at all"
    stored = {}
    for text, count in _counts(Message.objects.filter(direction="outbound").values_list("text", flat=True)).items():
        stored[text] = count
    doubled = {t: c for t, c in stored.items() if c > 1}
    assert not doubled, f"replies stored more than once: {doubled}"
    missing = [t for t in replies if t not in stored]
    assert not missing, f"accepted replies not stored: {missing[:10]}"
    half_written = [t for t in traffic.refused_replies() if t in stored]
    # A reply whose answer was lost (status 0) may have been committed just before; a 503 never is.
    refused_503 = {o.key for o in traffic.outcomes if o.kind == "reply" and o.status == 503}
    assert not [t for t in half_written if t in refused_503], f"503 replies that were stored: {half_written[:10]}"
    entries = traffic.accepted_entries()
    inbound = _counts(
        Message.objects.filter(direction="inbound", partner_entry_id__startswith="in-").values_list(
            "partner_entry_id", flat=True
        )
    )
    assert not {e: c for e, c in inbound.items() if c > 1}, "an entry was stored twice"
    assert not [e for e in entries if e not in inbound], "an accepted entry was not stored"
    assert not traffic.given_up_entries(), f"entries never taken within 30 s: {sorted(traffic.given_up_entries())[:5]}"
    wanted = set(replies.values()) | {
        str(m) for m in Message.objects.filter(text__in=half_written).values_list("pk", flat=True)
    }
    started = time.monotonic()
    wait_for(
        lambda: wanted <= received_reply_ids(world.receiver),
        timeout=deliveries_within,
        interval=0.25,
        what=f"webhook receipt of {len(wanted)} replies (missing {len(wanted - received_reply_ids(world.receiver))})",
    )
    return {
        "requests": len(traffic.outcomes),
        "statuses": traffic.by_status(),
        "replies_accepted": len(replies),
        "entries_accepted": len(entries),
        "webhook_catch_up_s": round(time.monotonic() - started, 2),
    }


def _counts(values) -> dict:
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def report(name: str, figures: dict) -> None:
    print(f"\n[fault figures] {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
