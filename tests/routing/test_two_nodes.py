"""Two nodes, many OS processes: concurrent arrivals while agents accept, decline, close and change
presence never deadlock, never answer 5xx, and keep every routing guarantee.

Each node is a daphne server and a Celery worker of its own on the one PostgreSQL and Redis; the load
comes from separate processes (tests/routing/loadgen.py) over real HTTP, half of it to each node, so
transactions really interleave in PostgreSQL — threads of one process did not show the deadlock.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from conversations.models import Conversation, Session
from routing.models import AgentWork, WorkItem
from tests.conversations.conftest import install
from tests.factories import PASSWORD
from tests.helpers import token_for
from tests.servers import celery_worker_process, daphne_server, stop_process, wait_for

from .test_dispatch import assert_capacity_and_single_offers, online_agents

pytestmark = pytest.mark.django_db(transaction=True)

LOADGEN = Path(__file__).with_name("loadgen.py")
ARRIVAL_PROCESSES = 4
ARRIVALS_EACH = 30
AGENTS = 4
CAPACITY = 15
AGENT_SECONDS = 25


def _deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


@contextlib.contextmanager
def _celery_worker(queue: str):
    process = celery_worker_process(queue=queue)
    try:
        yield process
    finally:
        stop_process(process)


@contextlib.contextmanager
def _node(queue: str):
    with _celery_worker(queue), daphne_server(CELERY_QUEUE=queue) as url:
        yield url


def _spawn(config: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(LOADGEN), json.dumps(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _result(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def test_arrivals_on_two_nodes_with_agents_at_work_never_deadlock(tenant, partner, connected_app):
    channel = install(tenant, partner)
    agents = online_agents(tenant, AGENTS, CAPACITY)
    token = token_for(connected_app)
    queue = f"ccp-test-two-nodes-{uuid.uuid4().hex[:8]}"
    deadlocks_before = _deadlocks()

    with _node(queue) as node_a, _node(queue) as node_b:
        urls = [node_a, node_b]
        start_at = time.time() + 6  # every process logged in and waiting by then
        processes = [
            _spawn(
                {
                    "mode": "agent",
                    "urls": urls[i % 2 :] + urls[: i % 2],
                    "username": a.user.username,
                    "password": PASSWORD,
                    "seed": i,
                    "seconds": AGENT_SECONDS,
                    "start_at": start_at,
                }
            )
            for i, a in enumerate(agents)
        ]
        processes += [
            _spawn(
                {
                    "mode": "arrivals",
                    "urls": urls if i % 2 else urls[::-1],
                    "token": token,
                    "channel": channel.channel_address_id,
                    "prefix": f"p{i}",
                    "count": ARRIVALS_EACH,
                    "threads": 8,
                    "start_at": start_at,
                }
            )
            for i in range(ARRIVAL_PROCESSES)
        ]
        results = [_result(p) for p in processes]

        last = {"state": None}

        def settled():  # the workers' dispatch rounds and expiries have caught up: nothing moves
            state = (WorkItem.objects.filter(status="queued").count(), AgentWork.objects.count())
            calm, last["state"] = state == last["state"], state
            return calm

        wait_for(settled, timeout=60, interval=2, what="routing to settle")

    statuses: dict[str, int] = {}
    for result in results:
        for code, n in result["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    failures = [f for r in results for f in r["failures"]]
    print(
        f"\ntwo nodes: HTTP statuses {dict(sorted(statuses.items()))}; agents: "
        + ", ".join(f"{k}={sum(r.get(k, 0) for r in results)}" for k in ("accepted", "declined", "closed", "flips"))
    )
    assert not [c for c in statuses if c.startswith("5")], failures
    assert sum(r["statuses"].get("201", 0) for r in results[AGENTS:]) == ARRIVAL_PROCESSES * ARRIVALS_EACH

    conversations = Conversation.objects.filter(tenant=tenant)
    assert conversations.count() == ARRIVAL_PROCESSES * ARRIVALS_EACH
    sessions = {str(s.id): s for s in Session.objects.filter(conversation__in=conversations)}
    items = {i.reference: i for i in WorkItem.objects.filter(tenant=tenant, reference__in=sessions)}
    for reference, session in sessions.items():
        item = items.get(reference)
        assert item is not None, f"conversation {session.conversation_id} was never given to routing"
        if session.conversation.status != "closed":
            assert item.status in ("queued", "offered", "assigned"), (reference, item.status)
    # agents did real work: some offers were accepted (and may since be closed, as fast agents do)
    assert AgentWork.objects.filter(tenant=tenant, status__in=("accepted", "acw", "closed")).exists()
    assert_capacity_and_single_offers(CAPACITY)
    assert _deadlocks() - deadlocks_before == 0, "PostgreSQL detected a deadlock during the test"
