"""Batched dispatch rounds and the coalesced dispatch task, against PostgreSQL, Redis and a real worker:
no agent over capacity, no work item with two live offers, every item offered once, a fixed number of
queries per round, one queued task for a burst of triggers, and no trigger lost during a round."""

from __future__ import annotations

import json
import random
import threading
from collections import defaultdict
from datetime import timedelta

import pytest
import redis
from celery.signals import task_prerun
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ccp.celery import app as celery_app
from ccp.events.models import Event
from routing import services, tasks
from routing.choices import HOLDING_STATUSES
from routing.errors import OfferExpired
from routing.models import AgentPresence, AgentWork, Queue, RouteDecision, WorkItem
from tests.factories import MembershipFactory
from tests.helpers import dispatch_pending
from tests.servers import wait_for


def online_agents(tenant, n: int, capacity: int, status: str = "online") -> list:
    """Agents (online unless told), made without services: setting them up queues no dispatch task."""
    members = [MembershipFactory(tenant=tenant, role="agent") for _ in range(n)]
    AgentPresence.objects.bulk_create(
        [AgentPresence(membership=m, tenant=tenant, status=status, capacity={"messaging": capacity}) for m in members]
    )
    return members


def waiting(tenant, n: int, prefix: str = "w", **fields) -> list[WorkItem]:
    return WorkItem.objects.bulk_create([WorkItem(tenant=tenant, reference=f"{prefix}{i}", **fields) for i in range(n)])


def _run(threads, timeout=120):
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
        assert not t.is_alive(), "a thread hung"


def _max_overlap(intervals) -> int:
    """The most intervals open at one instant (an end at t is processed before a start at t)."""
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda p: (p[0], p[1]))
    best = current = 0
    for _, delta in points:
        current += delta
        best = max(best, current)
    return best


def assert_capacity_and_single_offers(capacity: int) -> None:
    """From the recorded timestamps: no agent ever held more than `capacity`, no item two live offers."""
    now = timezone.now()
    per_agent = defaultdict(list)
    per_item = defaultdict(list)
    for w in AgentWork.objects.all():
        per_agent[w.agent_id].append((w.offered_at, w.ended_at or now))
        refused = w.status in ("declined", "timed_out", "rescinded")
        live_until = (w.answered_at if refused else w.closed_at or w.ended_at) or now
        per_item[w.work_item_id].append((w.offered_at, live_until))
    for agent_id, intervals in per_agent.items():
        assert _max_overlap(intervals) <= capacity, f"agent {agent_id} held more than {capacity}"
        assert AgentWork.objects.filter(agent_id=agent_id, status__in=HOLDING_STATUSES).count() <= capacity
    for item_id, intervals in per_item.items():
        assert _max_overlap(intervals) <= 1, f"work item {item_id} had two live offers at once"


# --- many rounds at once ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_rounds_offer_every_item_once_and_fill_capacity_exactly(tenant):
    """8 threads start dispatching 300 items to 20 agents × 15 at the same instant: every item is
    offered exactly once and every agent holds exactly 15 — no more, however the rounds interleave."""
    agents = online_agents(tenant, 20, 15)
    items = waiting(tenant, 300)
    barrier = threading.Barrier(8)
    made, errors = [], []

    def dispatcher():
        try:
            barrier.wait()
            made.append(services.routing_dispatch(tenant_id=tenant.pk, limit=40))
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    _run([threading.Thread(target=dispatcher) for _ in range(8)])
    assert not errors, errors[:3]
    # a thread that met only locked agents gives up after a few retries; the sweep dispatches then
    leftover = services.routing_dispatch(tenant_id=tenant.pk)
    assert sum(made) + leftover == 300
    assert sorted(AgentWork.objects.values_list("work_item_id", flat=True)) == sorted(i.pk for i in items)
    assert set(WorkItem.objects.values_list("status", flat=True)) == {"offered"}
    for agent in agents:
        assert AgentWork.objects.filter(agent=agent, status="offered").count() == 15
    assert RouteDecision.objects.filter(outcome="offered").count() == 300
    offered = Event.objects.filter(type="work.offered")
    assert offered.count() == 300
    assert {(e.data["work_item_id"], e.agent_ids[0]) for e in offered} == {
        (str(w.work_item_id), str(w.agent_id)) for w in AgentWork.objects.all()
    }


@pytest.mark.django_db(transaction=True)
def test_rounds_accepts_declines_closes_and_presence_changes_at_once_keep_every_guarantee(tenant, settings):
    """4 dispatcher threads run rounds while 8 agent threads accept, decline, close and go away and
    back online at random, and 120 items wait: afterwards nobody ever held more than capacity, no item
    ever had two live offers, and every item is served, offered or still queued — none is lost."""
    settings.ROUTING_AWAY_AFTER_IGNORED = 0
    capacity = 3
    agents = online_agents(tenant, 8, capacity)
    waiting(tenant, 120)
    stop = threading.Event()
    errors = []

    def dispatcher():
        try:
            while not stop.is_set():
                services.routing_dispatch(tenant_id=tenant.pk, limit=25)
                stop.wait(0.005)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    def agent_worker(agent, seed):
        rnd = random.Random(seed)
        try:
            while not stop.is_set():
                for work in AgentWork.objects.filter(agent=agent, status__in=["offered", "accepted"]):
                    try:
                        with transaction.atomic():
                            if work.status == "offered" and rnd.random() < 0.7:
                                services.work_accept(work=work)
                            elif work.status == "offered":
                                services.work_decline(work=work, reason="busy")
                            elif rnd.random() < 0.5:
                                services.work_close(work=work)
                    except OfferExpired:
                        pass  # closed or answered meanwhile
                if rnd.random() < 0.1:
                    with transaction.atomic():
                        services.presence_set(membership=agent, status="away")
                    stop.wait(0.01)
                    with transaction.atomic():
                        services.presence_set(membership=agent, status="online")
                stop.wait(0.005)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    dispatchers = [threading.Thread(target=dispatcher) for _ in range(4)]
    workers = [threading.Thread(target=agent_worker, args=(a, i)) for i, a in enumerate(agents)]
    for t in dispatchers + workers:
        t.start()
    wait_for(
        lambda: not WorkItem.objects.filter(status__in=["queued", "offered"]).exists() or errors,
        timeout=90,
        what="every item to be assigned",
    )
    stop.set()
    for t in dispatchers + workers:
        t.join(timeout=60)
        assert not t.is_alive(), "a thread hung"
    assert not errors, errors[:5]
    assert_capacity_and_single_offers(capacity)
    assert AgentWork.objects.filter(status="declined").exists(), "the test declined nothing"
    for item in WorkItem.objects.all():
        assert item.status in ("assigned", "done"), item
        assert item.works.filter(status__in=["accepted", "closed"]).count() == 1


# --- a fixed number of queries per round -----------------------------------------------------------


def _round_queries(tenant) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        result = services.routing_dispatch_round(tenant_id=tenant.pk, limit=500)
    return len(ctx.captured_queries), result.offered


def test_the_queries_of_a_round_do_not_grow_with_the_number_of_items(tenant):
    billing = Queue.objects.create(tenant=tenant, name="billing", ordering="priority")
    online_agents(tenant, 20, 10)
    waiting(tenant, 5, "a")
    waiting(tenant, 5, "b", queue=billing)
    few, offered = _round_queries(tenant)
    assert offered == 10
    waiting(tenant, 50, "c")
    waiting(tenant, 50, "d", queue=billing)
    many, offered = _round_queries(tenant)
    assert offered == 100
    assert many == few, (few, many)
    assert few <= 20, few


def test_a_round_follows_priority_with_aging_and_the_strategy(tenant):
    """The round's SQL order is `_waiting_items`' order: priority plus aging, then age; most_available
    spreads the offers evenly; the previous agent comes first."""
    prio = Queue.objects.create(tenant=tenant, name="prio", ordering="priority", aging_seconds=60)
    old_low = WorkItem.objects.create(tenant=tenant, reference="old-low", queue=prio, priority=0)
    WorkItem.objects.create(tenant=tenant, reference="new-high", queue=prio, priority=1)
    aged = WorkItem.objects.create(tenant=tenant, reference="aged", queue=prio, priority=0)
    now = timezone.now()
    WorkItem.objects.filter(pk=old_low.pk).update(enqueued_at=now - timedelta(seconds=30))
    WorkItem.objects.filter(pk=aged.pk).update(enqueued_at=now - timedelta(seconds=180))
    online_agents(tenant, 1, 2)
    services.routing_dispatch_round(tenant_id=tenant.pk)
    # aged: 0 + 3 points, new-high: 1 + 0, old-low: 0 + 0.5 → only the first two fit
    assert set(AgentWork.objects.values_list("work_item__reference", flat=True)) == {"aged", "new-high"}

    others = online_agents(tenant, 3, 4)
    preferred = others[0]
    items = waiting(tenant, 6, "p")
    WorkItem.objects.filter(pk=items[0].pk).update(preferred_agent=preferred)
    services.routing_dispatch_round(tenant_id=tenant.pk)
    assert AgentWork.objects.get(work_item=items[0]).agent == preferred
    loads = [AgentWork.objects.filter(agent=a).count() for a in others]
    assert max(loads) - min(loads) <= 1, loads  # old-low and the six spread over three agents


def test_a_round_respects_skills_exclusions_and_calls(tenant):
    from routing.models import AgentSkill, Skill

    billing = Skill.objects.create(tenant=tenant, name="billing")
    expert, novice, on_call = online_agents(tenant, 3, 4)
    AgentPresence.objects.filter(membership=on_call).update(capacity={"messaging": 4, "voice": 1})
    AgentSkill.objects.create(tenant=tenant, membership=expert, skill=billing, level=4)
    AgentSkill.objects.create(tenant=tenant, membership=novice, skill=billing, level=1)
    AgentSkill.objects.create(tenant=tenant, membership=on_call, skill=billing, level=5)
    call = WorkItem.objects.create(tenant=tenant, reference="call", channel_type="voice")
    with transaction.atomic():
        services.work_offer(work_item=call, agent_id=on_call.pk)
    needs = waiting(tenant, 3, "b", required_skills=[{"skill": "billing", "level": 3}])
    excluded = WorkItem.objects.create(
        tenant=tenant,
        reference="x",
        required_skills=[{"skill": "billing", "level": 3}],
        excluded_agents=[str(expert.pk)],
    )
    assert services.routing_dispatch_round(tenant_id=tenant.pk).offered == 3
    assert {w.agent_id for w in AgentWork.objects.filter(work_item__in=needs)} == {expert.pk}
    assert not AgentWork.objects.filter(work_item=excluded).exists()  # only the expert qualifies


# --- the coalesced dispatch task ---------------------------------------------------------------------


def _queued_tasks(name: str = "routing.tasks.routing_dispatch_task") -> int:
    """Queued Celery messages of this task (others share the queue: e.g. the supervisors' live push)."""
    messages = redis.Redis.from_url(settings.REDIS_URL).lrange(celery_app.conf.task_default_queue, 0, -1)
    return sum(json.loads(m).get("headers", {}).get("task") == name for m in messages)


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_triggers_queues_one_task_and_the_worker_offers_everything(tenant, idle_worker):
    """30 agents come online at once (30 commits that free capacity): one dispatch task is queued, not
    30; once a worker runs, all 100 waiting items are offered, nobody over capacity."""
    agents = online_agents(tenant, 30, 4, status="offline")
    waiting(tenant, 100)
    barrier = threading.Barrier(30)
    errors = []

    def go_online(agent):
        try:
            barrier.wait()
            with transaction.atomic():
                services.presence_set(membership=agent, status="online")
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    _run([threading.Thread(target=go_online, args=(a,)) for a in agents])
    assert not errors, errors[:3]
    assert _queued_tasks() == 1
    assert dispatch_pending(tenant_id=tenant.pk)
    runs = []

    def count(sender=None, **kwargs):
        if sender.name == "routing.tasks.routing_dispatch_task":
            runs.append(list(kwargs["args"]))

    task_prerun.connect(count, weak=False)
    try:
        idle_worker.start()
        wait_for(
            lambda: AgentWork.objects.filter(status="offered").count() == 100,
            timeout=30,
            what="the dispatch task to offer every waiting item",
        )
    finally:
        task_prerun.disconnect(count)
    assert runs == [[str(tenant.pk)]]
    assert not dispatch_pending(tenant_id=tenant.pk)
    assert_capacity_and_single_offers(4)


@pytest.mark.django_db(transaction=True)
def test_a_trigger_during_a_running_round_is_not_lost(tenant):
    """The task's round has read its candidates (nobody online) when an agent comes online and
    commits: the running task itself notices the trigger and dispatches again — the items do not wait
    for another task or the sweep."""
    items = waiting(tenant, 3)
    (late,) = online_agents(tenant, 1, 5, status="offline")
    snapshot_read, resume = threading.Event(), threading.Event()
    result, errors = [], []

    def pause_after_the_snapshot(execute, sql, params, many, context):
        out = execute(sql, params, many, context)
        if 'FROM "routing_agentpresence"' in sql and "FOR NO KEY UPDATE" not in sql and not snapshot_read.is_set():
            snapshot_read.set()
            resume.wait(10)
        return out

    def run_task():
        try:
            with connection.execute_wrapper(pause_after_the_snapshot):
                result.append(tasks.routing_dispatch_task(str(tenant.pk)))
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            resume.set()
            connection.close()

    thread = threading.Thread(target=run_task)
    thread.start()
    assert snapshot_read.wait(10), "the round never read its candidates"
    with transaction.atomic():
        services.presence_set(membership=late, status="online")  # trigger: on commit
    assert dispatch_pending(tenant_id=tenant.pk)  # a new task is queued too
    resume.set()
    thread.join(30)
    assert not errors, errors
    assert result == [3]
    assert {w.work_item_id for w in AgentWork.objects.filter(agent=late)} == {i.pk for i in items}


@pytest.mark.django_db(transaction=True)
def test_one_expiry_task_per_round_times_out_all_its_offers(tenant, celery_worker):
    """A round of 12 offers schedules one expiry task (with the 12 work ids); it times them all out."""
    quick = Queue.objects.create(tenant=tenant, name="quick", offer_timeout_seconds=1)
    online_agents(tenant, 1, 12)  # one agent: once timed out, the items exclude them and stay queued
    waiting(tenant, 12, queue=quick)
    runs = []

    def count(sender=None, **kwargs):
        if sender.name == "routing.tasks.work_expire_batch_task":
            runs.append(sorted(kwargs["args"][0]))

    task_prerun.connect(count, weak=False)
    try:
        assert services.routing_dispatch_round(tenant_id=tenant.pk).offered == 12
        work_ids = sorted(str(pk) for pk in AgentWork.objects.values_list("pk", flat=True))
        wait_for(
            lambda: AgentWork.objects.filter(pk__in=work_ids, status="timed_out").count() == 12,
            timeout=15,
            what="the round's expiry task",
        )
    finally:
        task_prerun.disconnect(count)
    # (a worker may also run stray timers queued by earlier tests: only ours count)
    assert [r for r in runs if set(r) & set(work_ids)] == [work_ids]


def test_the_single_offer_expiry_task_still_works(tenant):
    """Offers made before batching queued `work_expire_task(work_id)`; that task name still expires."""
    (agent,) = online_agents(tenant, 1, 2)
    item = WorkItem.objects.create(tenant=tenant, reference="old")
    with transaction.atomic():
        work = services.work_offer(work_item=item, agent_id=agent.pk)
    AgentWork.objects.filter(pk=work.pk).update(expires_at=timezone.now())
    celery_app.tasks["routing.tasks.work_expire_task"].apply(args=(str(work.pk),))
    work.refresh_from_db()
    assert work.status == "timed_out"


@pytest.mark.django_db(transaction=True)
def test_a_round_publishes_the_same_work_offered_events_as_a_single_offer(tenant, partner):
    """The round's bulk publish writes the outbox rows `event_publish` writes: same data, audience and
    agent, numbered (committed and fanned out) once the round's transaction commits."""
    (agent,) = online_agents(tenant, 1, 5)
    with transaction.atomic():
        single = services.work_item_create(tenant=tenant, reference="single", partner=partner)
    WorkItem.objects.create(tenant=tenant, reference="batched", partner=partner, attributes={"contact_name": "Ann"})
    assert services.routing_dispatch_round(tenant_id=tenant.pk).offered == 1
    one, batched = Event.objects.filter(type="work.offered").order_by("pk")
    assert one.data["work_item_id"] == str(single.pk)
    assert set(batched.data) == set(one.data)
    assert batched.data["attributes"] == {"contact_name": "Ann"} and batched.data["status"] == "offered"
    work = AgentWork.objects.get(work_item__reference="batched")
    assert batched.data["work_id"] == str(work.pk) and batched.data["expires_at"]
    assert batched.agent_ids == one.agent_ids == [str(agent.pk)]
    assert batched.partner_id == one.partner_id == partner.pk
    assert batched.replay_id is not None and batched.replay_id > one.replay_id
