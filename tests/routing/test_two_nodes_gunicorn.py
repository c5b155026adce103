"""Two nodes as production runs them — `manage.py ccp_serve`: REST on gunicorn (sync workers),
websockets on daphne and a Celery worker, forked from one process that loaded the app — on one
PostgreSQL and Redis: a push reaches the agent whichever node took the request.

Agents keep their websocket on their home node and make every REST call (status, accept, close) on
the other node; partners post to both. Asserted: every offer was pushed once, to the socket of the
agent it was made to, also when the conversation was posted to the other node (both directions,
made certain by having only one node's agents online); every inbound message reached the holding
agent's socket across nodes (both directions); no double offer, no agent over capacity, no 5xx, no
deadlock. Every wait is bounded and says what it waited for; nothing is timed.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from websockets.sync.client import connect as ws_connect

from conversations.models import Participant, Session
from routing.models import AgentWork, WorkItem
from tests.conversations.conftest import install
from tests.factories import PASSWORD
from tests.helpers import token_for
from tests.servers import ccp_serve_node, wait_for

from .test_dispatch import assert_capacity_and_single_offers, online_agents
from .test_two_nodes import _deadlocks

pytestmark = pytest.mark.django_db(transaction=True)

AGENTS = 4  # two per node
CAPACITY = 5
CROSS_EACH_WAY = 2  # conversations posted to the node the online agents' sockets are not on
ARRIVALS = 30  # then, with everyone online: more than the capacity left, so some wait in the queue
CLOSES_EACH = 2  # conversations each agent closes, so queued work is dispatched by a Celery worker


@dataclass
class Node:
    name: str
    rest: str  # gunicorn
    ws: str  # daphne


def _start_nodes(stack: contextlib.ExitStack, queue: str) -> list[Node]:
    """Nodes a and b, each `manage.py ccp_serve` (gunicorn, daphne and a Celery worker forked from one
    process), started at once; the stack stops them."""
    nodes = [ccp_serve_node(CELERY_QUEUE=queue) for _ in range(2)]
    with ThreadPoolExecutor(len(nodes)) as pool:
        started = [pool.submit(node.__enter__) for node in nodes]
    for node, future in zip(nodes, started, strict=True):
        if future.exception() is None:
            stack.push(node.__exit__)
    (rest_a, ws_a), (rest_b, ws_b) = (future.result() for future in started)  # raises what failed to start
    return [Node("a", rest_a, ws_a), Node("b", rest_b, ws_b)]


class Agent:
    """One agent: a websocket on `home`'s daphne, every REST call on `away`'s gunicorn. Accepts each
    offer as it is pushed (from the socket's reader thread) and records every status it got."""

    def __init__(self, membership, home: Node, away: Node, statuses: Counter, lock: threading.Lock):
        self.membership, self.home, self.away = membership, home, away
        self.statuses, self.lock = statuses, lock
        self.frames: list[dict] = []
        self.http = requests.Session()
        self.http.get(f"{away.rest}/accounts/login/", timeout=30)
        response = self.http.post(
            f"{away.rest}/accounts/login/",
            data={
                "username": membership.user.username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": self.http.cookies["csrftoken"],
            },
            headers={"Referer": f"{away.rest}/accounts/login/"},
            timeout=30,
            allow_redirects=False,
        )
        assert response.status_code == 302, f"login of {membership.user.username}: {response.status_code}"
        self.http.headers["X-CSRFToken"] = self.http.cookies["csrftoken"]
        self.http_lock = threading.Lock()

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        with self.http_lock:
            response = self.http.request(method, f"{self.away.rest}{path}", timeout=60, **kwargs)
        with self.lock:
            self.statuses[f"{method} {path.split('/')[4]} {response.status_code}"] += 1
        return response

    def listen(self, stack: contextlib.ExitStack) -> None:
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        socket = stack.enter_context(
            ws_connect(
                self.home.ws.replace("http://", "ws://") + "/ws/agent/",
                origin=self.home.ws,
                additional_headers={"Cookie": cookie},
                open_timeout=30,
            )
        )
        assert json.loads(socket.recv(timeout=30))["type"] == "hello"

        def read():
            try:
                for raw in socket:
                    frame = json.loads(raw)
                    self.frames.append(frame)
                    if frame["type"] == "work.offered":
                        self.call("POST", f"/api/v1/agent/work/{frame['data']['work_id']}/accept/")
            except Exception:  # the socket closes at the end of the test
                return

        threading.Thread(target=read, daemon=True).start()

    def status(self, status: str) -> None:
        response = self.call("PUT", "/api/v1/agent/status/", json={"status": status})
        assert response.status_code == 200, response.text[:500]

    def offered_work_ids(self) -> list[str]:
        return [f["data"]["work_id"] for f in list(self.frames) if f["type"] == "work.offered"]

    def message_texts(self) -> set[str]:
        return {f["data"].get("text") for f in list(self.frames) if f["type"] == "message.created"}


def test_two_gunicorn_daphne_nodes_push_across_nodes_and_keep_routing_guarantees(tenant, partner, connected_app):
    channel = install(tenant, partner)
    members = online_agents(tenant, AGENTS, CAPACITY, status="away")
    headers = {"Authorization": f"Bearer {token_for(connected_app)}"}
    queue = f"ccp-test-two-nodes-gunicorn-{uuid.uuid4().hex[:8]}"
    statuses: Counter = Counter()
    lock = threading.Lock()
    posted_to: dict[str, Node] = {}  # conversation id -> the node it was posted to
    sender_of: dict[str, str] = {}  # conversation id -> the end user's address
    deadlocks_before = _deadlocks()

    with contextlib.ExitStack() as stack:
        nodes = _start_nodes(stack, queue)
        began = time.monotonic()
        agents = [Agent(m, nodes[i % 2], nodes[(i + 1) % 2], statuses, lock) for i, m in enumerate(members)]
        by_id = {a.membership.pk: a for a in agents}
        for agent in agents:
            agent.listen(stack)
        local = threading.local()

        def post(node: Node, sender: str, text: str) -> str:
            if not hasattr(local, "session"):
                local.session = requests.Session()
            body = {"to": channel.channel_address_id, "from": sender, "entries": [{"id": text, "type": "message",
                                                                                   "text": text}]}  # fmt: skip
            response = local.session.post(f"{node.rest}/api/v1/interactions/", json=body, headers=headers, timeout=60)
            with lock:
                statuses[f"POST interactions {response.status_code}"] += 1
            assert response.status_code == 201, response.text[:500]
            conversation_id = response.json()["conversation_id"]
            posted_to.setdefault(conversation_id, node)
            sender_of[conversation_id] = sender
            return conversation_id

        def conversation_of(work: AgentWork) -> str:
            return str(Session.objects.get(pk=work.work_item.reference).conversation_id)

        def work_of(conversation_ids) -> list[AgentWork]:
            sessions = Session.objects.filter(conversation_id__in=list(conversation_ids))
            references = [str(pk) for pk in sessions.values_list("pk", flat=True)]
            return list(AgentWork.objects.filter(work_item__reference__in=references).select_related("work_item"))

        def held(agent: Agent) -> list[str]:
            return [
                str(c)
                for c in Participant.objects.filter(agent=agent.membership, left_at__isnull=True).values_list(
                    "conversation_id", flat=True
                )
            ]

        # 1. Offers across nodes, both ways: only one node's agents online, conversations posted to the other.
        for side, other in ((0, 1), (1, 0)):
            here = [a for a in agents if a.home is nodes[side]]
            for agent in here:
                agent.status("online")
            cross = [post(nodes[other], f"cross-{side}-{k}", f"cross-{side}-{k}-m1") for k in range(CROSS_EACH_WAY)]
            works = wait_for(
                lambda cross=cross: (w := work_of(cross)) and len(w) == len(cross) and w,
                timeout=20,
                what=f"the offers of the conversations posted to node {nodes[other].name}",
            )
            for work in works:
                agent = by_id[work.agent_id]
                assert agent.home is nodes[side], f"offer {work.pk} went to an agent who is away"
                wait_for(
                    lambda agent=agent, work=work: str(work.pk) in agent.offered_work_ids(),
                    timeout=20,
                    what=f"work.offered {work.pk} (posted to node {nodes[other].name}) on node {nodes[side].name}'s "
                    f"websocket",
                )
            for agent in here:
                agent.status("away")

        # 2. Everyone online (the REST of the other node), then more arrivals than capacity, on both nodes.
        for agent in agents:
            agent.status("online")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: post(nodes[i % 2], f"load-{i}", f"load-{i}-m1"), range(ARRIVALS)))
        total = 2 * CROSS_EACH_WAY + ARRIVALS
        full = AGENTS * CAPACITY

        def settled(expect_queued: int):
            queued = WorkItem.objects.filter(tenant=tenant, status="queued").count()
            accepted = AgentWork.objects.filter(status="accepted").count()
            return queued == expect_queued and accepted == full and not AgentWork.objects.filter(status="offered")

        wait_for(lambda: settled(total - full), timeout=30, what=f"{full} conversations accepted, the rest queued")

        # 3. Agents close conversations (on the other node): a Celery worker offers queued work.
        for agent in agents:
            for conversation_id in held(agent)[:CLOSES_EACH]:
                response = agent.call("POST", f"/api/v1/agent/conversations/{conversation_id}/close/", json={})
                assert response.status_code == 200, response.text[:500]
        closed = AGENTS * CLOSES_EACH
        wait_for(
            lambda: settled(total - full - closed),
            timeout=30,
            what=f"the {closed} freed places offered from the queue and accepted",
        )

        # 4. Every offer pushed exactly once, to its agent's socket, whichever node made it.
        works = list(AgentWork.objects.filter(tenant=tenant).select_related("work_item"))
        assert len(works) == full + closed
        for work in works:
            agent = by_id[work.agent_id]
            wait_for(
                lambda agent=agent, work=work: str(work.pk) in agent.offered_work_ids(),
                timeout=20,
                what=f"work.offered {work.pk} on {agent.membership.user.username}'s socket (node {agent.home.name})",
            )
        pushed = Counter(w for a in agents for w in a.offered_work_ids())
        assert not [w for w, n in pushed.items() if n > 1], "an offer was pushed twice"
        assert set(pushed) == {str(w.pk) for w in works}, "a socket got an offer that was not made"
        crossed = Counter((posted_to[conversation_of(w)].name, by_id[w.agent_id].home.name) for w in works)
        assert crossed[("a", "b")] and crossed[("b", "a")], crossed

        # 5. Inbound messages reach the holding agent's socket across nodes, both ways.
        expected = {}
        for agent in agents:
            for conversation_id in held(agent):
                text = f"follow-up-{conversation_id}"
                assert post(agent.away, sender_of[conversation_id], text) == conversation_id
                expected[text] = agent
        assert {a.away.name for a in expected.values()} == {"a", "b"}
        for text, agent in expected.items():
            wait_for(
                lambda agent=agent, text=text: text in agent.message_texts(),
                timeout=20,
                what=f"message.created '{text}' (posted to node {agent.away.name}) on node {agent.home.name}'s socket",
            )

    print(
        f"\ntwo nodes, {time.monotonic() - began:.0f} s once up: HTTP {dict(sorted(statuses.items()))} "
        f"offers by (posted to, socket on) {dict(crossed)}"
    )
    assert not [s for s in statuses if s.endswith(("500", "502", "503", "504"))], statuses
    assert_capacity_and_single_offers(CAPACITY)
    assert _deadlocks() - deadlocks_before == 0, "PostgreSQL detected a deadlock during the test"
