"""Calls and chats arriving at once, with agents accepting, declining and closing in their own threads,
on PostgreSQL: no agent ever holds two calls (voice capacity 1), no agent is offered a chat while a
call holds them (voice_blocks_messaging), and no work item has two live offers."""

import random
import threading
from collections import defaultdict

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Call, Participant
from routing.choices import HOLDING_STATUSES
from routing.models import AgentWork, WorkItem
from routing.services import routing_dispatch
from tests.factories import MembershipFactory
from tests.helpers import partner_client, token_for

from .conftest import CHANNEL, install, message, online
from .test_concurrency import _max_overlap, _run
from .voice import CALL_CENTER, install_call_center

pytestmark = pytest.mark.django_db(transaction=True)

AGENTS, CALLERS, CALLS_EACH, CHATTERS, CHATS_EACH = 4, 3, 6, 2, 10


def test_concurrent_calls_and_chats_respect_voice_capacity_and_block_chats(tenant, partner, connected_app):
    install(tenant, partner)
    install_call_center(tenant, partner)
    agents = [MembershipFactory(tenant=tenant, role="agent") for _ in range(AGENTS)]
    for agent in agents:
        online(agent, {"messaging": 2, "voice": 1})
    token = token_for(connected_app)
    stop = threading.Event()
    barrier = threading.Barrier(CALLERS + CHATTERS)
    errors = []

    def check(response, allowed=(200, 201, 202, 409)):
        if response.status_code not in allowed:
            errors.append(f"{response.status_code} {response.content[:300]!r}")
        return response

    def caller(n):
        rnd = random.Random(n)
        client = partner_client(token)
        try:
            barrier.wait()
            for i in range(CALLS_EACH):
                call_id = f"call-{n}-{i}"
                check(
                    client.post(
                        "/api/v1/calls/",
                        {"to": CALL_CENTER, "from": f"+49{n}{i:03d}", "call_id": call_id},
                        format="json",
                    )
                )
                stop.wait(rnd.uniform(0.05, 0.3))
                state = check(client.get(f"/api/v1/calls/{call_id}/")).json()
                if state.get("agent_id"):
                    check(
                        client.post(f"/api/v1/calls/{call_id}/events/", {"id": "c", "type": "connected"}, format="json")
                    )
                    stop.wait(rnd.uniform(0.05, 0.2))
                check(client.post(f"/api/v1/calls/{call_id}/events/", {"id": "e", "type": "ended"}, format="json"))
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    def chatter(n):
        client = partner_client(token)
        try:
            barrier.wait()
            for i in range(CHATS_EACH):
                body = {"to": CHANNEL, "from": f"+33{n}{i:03d}", "entries": [message(f"help {n}/{i}", f"m{n}-{i}")]}
                check(client.post("/api/v1/interactions/", body, format="json"))
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    def agent_worker(agent, seed):
        rnd = random.Random(seed)
        client = APIClient()
        client.force_login(agent.user)
        try:
            while not stop.is_set():
                for work in AgentWork.objects.filter(agent=agent, status="offered"):
                    action = "accept" if rnd.random() < 0.8 else "decline"
                    check(client.post(f"/api/v1/agent/work/{work.pk}/{action}/"))
                for participant in Participant.objects.filter(
                    agent=agent, left_at__isnull=True, conversation__channel__channel_type="messaging"
                ):
                    if rnd.random() < 0.3:
                        check(
                            client.post(f"/api/v1/agent/conversations/{participant.conversation_id}/close/"),
                            (200, 403, 409),
                        )
                stop.wait(0.02)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    def dispatcher():  # the Celery worker's part: rounds for what waits when capacity frees
        try:
            while not stop.is_set():
                routing_dispatch(tenant_id=tenant.pk)
                stop.wait(0.05)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    arrivals = [threading.Thread(target=caller, args=(n,)) for n in range(CALLERS)]
    arrivals += [threading.Thread(target=chatter, args=(n,)) for n in range(CHATTERS)]
    workers = [threading.Thread(target=agent_worker, args=(a, i)) for i, a in enumerate(agents)]
    workers.append(threading.Thread(target=dispatcher))
    for t in workers:
        t.start()
    _run(arrivals)
    stop.wait(1.0)
    stop.set()
    for t in workers:
        t.join(timeout=60)
        assert not t.is_alive(), "a worker thread hung"

    assert not errors, errors[:5]
    calls = Call.objects.all()
    assert calls.count() == CALLERS * CALLS_EACH and all(c.status == "ended" for c in calls)
    assert calls.filter(agent__isnull=False).exists(), "no call was ever answered: the test proved nothing"
    for call in calls.filter(end_reason="abandoned"):
        assert not AgentWork.objects.filter(work_item__reference=str(call.session_id), status__in=HOLDING_STATUSES)
        assert WorkItem.objects.get(reference=str(call.session_id)).status == "canceled"

    now = timezone.now()
    voice, chats = defaultdict(list), defaultdict(list)
    per_item = defaultdict(list)
    for w in AgentWork.objects.all():
        (voice if w.channel_type == "voice" else chats)[w.agent_id].append((w.offered_at, w.ended_at or now))
        refused = w.status in ("declined", "timed_out", "rescinded")
        per_item[w.work_item_id].append(
            (w.offered_at, (w.answered_at if refused else w.closed_at or w.ended_at) or now)
        )
    assert sum(len(v) for v in voice.values()) >= CALLERS, "too few call offers to prove anything"
    for agent_id, held in voice.items():
        assert _max_overlap(held) <= 1, f"agent {agent_id} held two calls at once"
        for offered_at, _end in chats.get(agent_id, []):
            on_call = [(s, e) for s, e in held if s < offered_at < e]
            assert not on_call, f"agent {agent_id} was offered a chat at {offered_at} while on a call {on_call}"
    for agent_id, held in chats.items():
        assert _max_overlap(held) <= 2, f"agent {agent_id} held more than 2 chats"
    for item_id, intervals in per_item.items():
        assert _max_overlap(intervals) <= 1, f"work item {item_id} had two live offers at once"
