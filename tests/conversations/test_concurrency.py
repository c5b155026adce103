"""Concurrency guarantees, proven with many threads against PostgreSQL:
no agent over capacity, at most one open offer and one owner per conversation, no duplicate message."""

import random
import threading
from collections import defaultdict

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Conversation, Message, Participant
from routing.choices import HOLDING_STATUSES
from routing.models import AgentWork, WorkItem
from routing.services import routing_sweep
from tests.factories import MembershipFactory
from tests.helpers import partner_client, token_for

from .conftest import CHANNEL, install, message, online

pytestmark = pytest.mark.django_db(transaction=True)


def _run(threads):
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a worker thread hung"


def _max_overlap(intervals) -> int:
    """The most intervals open at one instant (an end at t is processed before a start at t)."""
    points = []
    for start, end in intervals:
        points.append((start, 1))
        points.append((end, -1))
    points.sort(key=lambda p: (p[0], p[1]))
    best = current = 0
    for _, delta in points:
        current += delta
        best = max(best, current)
    return best


def test_concurrent_inbound_duplicates_store_one_message(tenant, partner, connected_app):
    install(tenant, partner)
    token = token_for(connected_app)
    barrier = threading.Barrier(8)
    statuses = []

    def worker():
        try:
            client = partner_client(token)
            barrier.wait()
            response = client.post(
                "/api/v1/interactions/",
                {"to": CHANNEL, "from": "+100", "entries": [message("same", "dup-1")]},
                format="json",
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    _run([threading.Thread(target=worker) for _ in range(8)])
    assert statuses == [201] * 8
    assert Message.objects.filter(partner_entry_id="dup-1").count() == 1
    assert Conversation.objects.count() == 1


def test_routing_under_concurrent_routes_accepts_declines_and_closes(tenant, partner, connected_app):
    """6 agents with capacity 2, 40 conversations arriving from 4 threads while 6 agent threads
    accept, decline and close at random: afterwards no agent ever held more than its capacity, no
    work item ever had two active offers, and every open conversation is either held, offered or queued."""
    install(tenant, partner)
    agents = [MembershipFactory(tenant=tenant, role="agent") for _ in range(6)]
    for agent in agents:
        online(agent, {"messaging": 2})
    token = token_for(connected_app)
    stop = threading.Event()
    errors = []

    def partner_worker(n):
        try:
            client = partner_client(token)
            for i in range(10):
                response = client.post(
                    "/api/v1/interactions/",
                    {"to": CHANNEL, "from": f"+{n}{i:03d}", "entries": [message(f"help {n}/{i}", f"{n}-{i}")]},
                    format="json",
                )
                if response.status_code != 201:
                    errors.append(response.content)
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
                    action = "accept" if rnd.random() < 0.75 else "decline"
                    response = client.post(f"/api/v1/agent/work/{work.pk}/{action}/")
                    if response.status_code not in (200, 409):
                        errors.append(response.content)
                for participant in Participant.objects.filter(agent=agent, left_at__isnull=True):
                    if rnd.random() < 0.5:
                        response = client.post(f"/api/v1/agent/conversations/{participant.conversation_id}/close/")
                        if response.status_code not in (200, 409, 403):
                            errors.append(response.content)
                stop.wait(0.01)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    partners = [threading.Thread(target=partner_worker, args=(n,)) for n in range(1, 5)]
    workers = [threading.Thread(target=agent_worker, args=(a, i)) for i, a in enumerate(agents)]
    for t in workers:
        t.start()
    _run(partners)
    # let the agents drain the queue (declines re-route; closes free capacity)
    deadline = timezone.now().timestamp() + 60
    while timezone.now().timestamp() < deadline:
        open_ = Conversation.objects.exclude(status="closed").count()
        if open_ == 0:
            break
        routing_sweep()
        stop.wait(0.2)
    stop.set()
    for t in workers:
        t.join(timeout=60)
    assert not errors, errors[:5]

    now = timezone.now()
    per_agent = defaultdict(list)
    for work in AgentWork.objects.all():
        per_agent[work.agent_id].append((work.offered_at, work.ended_at or now))
    assert per_agent, "no work was offered at all"
    for agent in agents:
        assert _max_overlap(per_agent[agent.pk]) <= 2, f"agent {agent} held more than its capacity"
        assert AgentWork.objects.filter(agent=agent, status__in=HOLDING_STATUSES).count() <= 2
    for item in WorkItem.objects.all():
        # a work is "active" (offered or accepted) from its offer until it was answered no, or until
        # its conversation work ended when it was accepted
        active = []
        for w in item.works.all():
            refused = w.status in ("declined", "timed_out", "rescinded")
            active.append((w.offered_at, (w.answered_at if refused else w.closed_at or w.ended_at) or now))
        assert _max_overlap(active) <= 1, f"work item {item.pk} had two active offers at once"
    for conversation in Conversation.objects.exclude(status="closed"):
        held = Participant.objects.filter(conversation=conversation, left_at__isnull=True).exists()
        waiting = WorkItem.objects.filter(
            reference__in=[str(s) for s in conversation.sessions.values_list("id", flat=True)],
            status__in=("queued", "offered", "assigned"),
        ).exists()
        assert held or waiting, f"conversation {conversation.pk} was lost from routing"
    assert Conversation.objects.count() == 40
    assert Message.objects.filter(direction="inbound").count() == 40


def test_offers_expiring_at_once_do_not_deadlock(tenant, partner, settings):
    """Two agents' offers time out at the same moment, each to be re-offered to the other agent, 25
    times over. Re-offering inside the expiring transaction took the second agent's presence lock
    while holding the first's, in opposite orders — PostgreSQL reported deadlocks (seen in the bench)."""
    from datetime import timedelta

    from django.db import transaction

    from routing import services as routing_services

    settings.ROUTING_AWAY_AFTER_IGNORED = 0  # keep both online however many offers they let expire
    alice = MembershipFactory(tenant=tenant, role="agent")
    bob = MembershipFactory(tenant=tenant, role="agent")
    for agent in (alice, bob):
        online(agent, {"messaging": 50})
    failures = []
    for round_ in range(25):
        pair = []
        for agent in (alice, bob):
            item = WorkItem.objects.create(tenant=tenant, reference=f"r{round_}-{agent.pk}")
            with transaction.atomic():
                pair.append(routing_services.work_offer(work_item=item, agent_id=agent.pk))
        AgentWork.objects.filter(pk__in=[w.pk for w in pair]).update(expires_at=timezone.now() - timedelta(seconds=1))
        barrier = threading.Barrier(2)

        def expire(work, barrier):
            try:
                barrier.wait()
                with transaction.atomic():
                    routing_services.work_expire(work=work)
            except Exception as exc:
                failures.append(repr(exc))
            finally:
                connection.close()

        _run([threading.Thread(target=expire, args=(w, barrier)) for w in pair])
        routing_services.routing_dispatch(tenant_id=tenant.pk)  # what the commits trigger
    assert not failures, failures[:3]
    assert AgentWork.objects.filter(status="timed_out").count() == 50
