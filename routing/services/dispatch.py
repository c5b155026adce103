"""Dispatch: waiting work flows to freed capacity in batched rounds, coalesced per tenant.

Lock order: see the package docstring (routing/services/__init__.py). A round locks its items,
then their candidate agents' presence rows, both `FOR NO KEY UPDATE SKIP LOCKED`: it never waits.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, FloatField, Func, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from ccp.core.bulk import bulk_insert, bulk_update
from ccp.core.redis import redis_client
from ccp.events.services import event_publish_many
from ccp.packages.choices import Owner

from ..ai_services import ai_route_plan
from ..choices import (
    Engine,
    PresenceStatus,
    QueueOrdering,
    WorkItemStatus,
)
from ..engines import (
    AgentLoad,
    Candidate,
    CandidatePool,
    effective_requirements,
    rank_platform,
)
from ..models import AgentPresence, AgentWork, AiRoutingConfig, RouteDecision, WorkItem, offer_timeout_seconds
from ..tasks import routing_dispatch_task, work_expire_batch_task
from .events import work_data
from .timers import timer_start

logger = logging.getLogger(__name__)


def route_decision_inputs(item: WorkItem, plan) -> dict:
    inputs = {
        "channel_type": item.channel_type,
        "queue": item.queue.name if item.queue_id else None,
        "required_skills": effective_requirements(item),
        "priority": item.priority,
        "excluded_agents": item.excluded_agents,
        "attributes": item.attributes,
    }
    if plan is not None and plan.log:
        inputs["ai"] = plan.log
    return inputs


def _effective_priority(now):
    """`_waiting_items`' order in SQL: the priority, plus in a priority queue one point per
    `aging_seconds` waited — so PostgreSQL sorts and limits before it locks."""
    waited = Func(
        Value(now, output_field=DateTimeField()),
        F("enqueued_at"),
        template="EXTRACT(EPOCH FROM (%(expressions)s))",
        arg_joiner=" - ",
        output_field=FloatField(),
    )
    return Case(
        When(
            queue__ordering=QueueOrdering.PRIORITY,
            then=F("priority") + waited / Greatest(F("queue__aging_seconds"), Value(1), output_field=FloatField()),
        ),
        default=F("priority"),
        output_field=FloatField(),
    )


def _waiting_items(tenant_id, limit: int, now=None) -> list[WorkItem]:
    """The embedded default's (SQLite: no row locks, writers serialised) waiting work, ordered in Python."""
    items = list(
        WorkItem.objects.filter(tenant_id=tenant_id, status=WorkItemStatus.QUEUED, routing_owner=Owner.PLATFORM)
        .select_related("queue", "tenant", "partner")
        .order_by("enqueued_at")[: limit * 4]
    )
    now = now or timezone.now()

    def effective_priority(item: WorkItem) -> float:
        if item.queue_id and item.queue.ordering == QueueOrdering.PRIORITY:
            aging = max(1, item.queue.aging_seconds)
            return item.priority + (now - item.enqueued_at).total_seconds() / aging
        return item.priority

    items.sort(key=lambda i: (-effective_priority(i), i.enqueued_at))
    return items[:limit]


def _lock_waiting_items(tenant_id, limit: int, now) -> list[WorkItem]:
    """Up to `limit` queued platform-routed items, highest effective priority and oldest first, locked;
    items another transaction holds (an offer, a cancel, another round) are skipped, not waited for."""
    if connection.vendor != "postgresql":
        return _waiting_items(tenant_id, limit, now)
    return list(
        WorkItem.objects.filter(tenant_id=tenant_id, status=WorkItemStatus.QUEUED, routing_owner=Owner.PLATFORM)
        .select_related("queue", "tenant", "partner")
        .select_for_update(of=("self",), skip_locked=True, no_key=True)
        .order_by(_effective_priority(now).desc(), "enqueued_at", "pk")[:limit]
    )


def _lock_loads(tenant_id, agent_ids) -> dict:
    """Lock the online agents' presence rows (by pk, skipping rows another transaction holds) and count
    their holding work under those locks: {agent id: AgentLoad}. Two queries whatever the number.

    Every writer of holding work (`work_offer`, a round) holds the agent's presence lock, so the count
    read after taking it is exact; work released meanwhile only makes it conservative.
    """
    rows = list(
        AgentPresence.objects.select_for_update(skip_locked=True, no_key=True)
        .filter(tenant_id=tenant_id, membership_id__in=list(agent_ids), status=PresenceStatus.ONLINE)
        .order_by("pk")
        .values(
            "pk",
            "membership_id",
            "capacity",
            "voice_blocks_messaging",
            "last_work_ended_at",
            "status_since",
            "last_offered_at",
        )
    )
    loads = {
        r["membership_id"]: AgentLoad(
            membership_id=r["membership_id"],
            presence_id=r["pk"],
            capacity=r["capacity"] or {},
            used={},
            voice_blocks_messaging=r["voice_blocks_messaging"],
            idle_since=r["last_work_ended_at"] or r["status_since"],
            last_offered_at=r["last_offered_at"],
        )
        for r in rows
    }
    if loads:
        for agent_id, used in AgentWork.objects.filter(agent_id__in=list(loads)).used_capacity().items():
            loads[agent_id].used.update(used)
    return loads


@dataclass
class DispatchRound:
    """What one dispatch round did: the offers made, and whether some wanted agents were not locked
    (another transaction held their presence row, or they left `online` since the snapshot)."""

    offered: int = 0
    contended: bool = False
    work_ids: list[str] = field(default_factory=list)


@dataclass
class _Assignment:
    item: WorkItem
    candidate: Candidate
    engine: str
    strategy: str
    plan: object
    log: list[dict]


def routing_dispatch_round(*, tenant_id, limit: int | None = None) -> DispatchRound:
    """Offer up to `limit` waiting platform-routed items in one short transaction.

    Locks the items (effective priority order, aging included), takes one candidate snapshot per
    (queue, channel type), locks the candidate agents' presence rows and counts their capacity in one
    aggregate under those locks, assigns in memory — same eligibility and strategies as `work_route`,
    the AI plan without the generative provider — and writes the offers, decisions and work.offered
    events in bulk, with one expiry task per offer timeout. Both lock steps skip rows that another
    transaction holds instead of waiting, so a round cannot take part in a deadlock; whoever waits
    for a row the round holds (an accept, a close) waits for one short transaction of about fifteen
    statements whatever the number of items.
    """
    limit = limit or settings.ROUTING_DISPATCH_BATCH
    with transaction.atomic():
        started = time.perf_counter()
        now = timezone.now()
        items = _lock_waiting_items(tenant_id, limit, now)
        if not items:
            return DispatchRound()
        pool = CandidatePool()
        wanted = pool.agents_for(items)
        if not wanted:
            return DispatchRound()  # nobody could take any of them: no decision row per idle round
        loads = _lock_loads(tenant_id, wanted)
        result = DispatchRound(contended=len(loads) < len(wanted))
        if not loads:
            return result
        pool.pin(loads)
        ai_enabled = AiRoutingConfig.objects.filter(tenant_id=tenant_id, enabled=True).exists()
        assignments = []
        for item in items:
            found = pool.candidates(item)
            if not found:
                continue
            assignment = _assign(item, found, ai_enabled=ai_enabled)
            pool.taken(assignment.candidate.membership_id, 1, item.channel_type)
            assignments.append(assignment)
        if assignments:
            result.work_ids = _write_offers(assignments, loads, now=now, started=started)
            result.offered = len(assignments)
    return result


def _assign(item: WorkItem, found: list[Candidate], *, ai_enabled: bool) -> _Assignment:
    """`work_route`'s choice for one item of a round: the AI plan's agents first, then the strategy's
    ranking. Every candidate has room (the pool counts it under the agents' locks), so the first wins."""
    strategy = item.queue.strategy if item.queue_id else settings.ROUTING_DEFAULT_STRATEGY
    ranked = rank_platform(work_item=item, candidates=list(found), strategy_name=strategy)
    plan = None
    if ai_enabled:  # else ai_route_plan returns None: one query per round instead of one per item
        plan = ai_route_plan(work_item=item, candidates=found, platform_ranked=ranked, allow_provider=False)
    attempts = [(c, Engine.AI) for c in (plan.ranked if plan else [])]
    tried = {c.membership_id for c, _ in attempts}
    attempts += [(c, Engine.PLATFORM) for c in ranked if not tried or c.membership_id not in tried]
    candidate, engine = attempts[0]
    return _Assignment(
        item=item,
        candidate=candidate,
        engine=engine,
        strategy=strategy,
        plan=plan,
        log=[c.as_log() for c, _ in attempts[:20]],  # as the decision saw them, before this offer
    )


def _write_offers(assignments: list[_Assignment], loads: dict, *, now, started: float) -> list[str]:
    """The writes of a round, one statement each: offers, item statuses, presences, events, timers, decisions."""
    works = []
    for a in assignments:
        item = a.item
        timeout = offer_timeout_seconds(queue=item.queue if item.queue_id else None, channel_type=item.channel_type)
        works.append(
            AgentWork(
                tenant_id=item.tenant_id,
                work_item=item,
                agent_id=a.candidate.membership_id,
                channel_type=item.channel_type,
                weight=1,
                engine=a.engine,
                expires_at=now + timedelta(seconds=timeout),
            )
        )
    # The items are locked and queued, so none has active work: one_active_work_per_item fails this
    # transaction should that invariant ever break.
    bulk_insert(AgentWork, works)
    WorkItem.objects.filter(pk__in=[a.item.pk for a in assignments]).update(status=WorkItemStatus.OFFERED)
    for a in assignments:
        a.item.status = WorkItemStatus.OFFERED
    offered_to = {w.agent_id for w in works}
    bulk_update(
        AgentPresence,
        [
            AgentPresence(pk=load.presence_id, last_offered_at=load.last_offered_at)
            for agent_id, load in loads.items()
            if agent_id in offered_to
        ],
        ["last_offered_at"],
    )
    event_publish_many(
        tenant=assignments[0].item.tenant,
        events=[
            {"type": "work.offered", "data": work_data(w), "partner": w.work_item.partner, "agent_ids": [w.agent_id]}
            for w in works
        ],
    )
    timers: dict = {}
    for w in works:
        timers.setdefault(w.expires_at, []).append(str(w.pk))
    for when, ids in timers.items():  # one per offer timeout in use, usually one per round
        timer_start(when, work_expire_batch_task, ids)
    latency_ms = (time.perf_counter() - started) * 1000  # every offer of the round waited for all of it
    bulk_insert(
        RouteDecision,
        [
            RouteDecision(
                tenant_id=a.item.tenant_id,
                work_item=a.item,
                engine=a.engine,
                arm=a.plan.arm if a.plan else "",
                strategy=a.strategy,
                inputs=route_decision_inputs(a.item, a.plan),
                candidates=a.log,
                chosen_agent_id=w.agent_id,
                work=w,
                outcome="offered",
                reason=(a.plan.reason if a.plan else "")[:300],
                latency_ms=latency_ms,
            )
            for a, w in zip(assignments, works, strict=True)
        ],
    )
    return [str(w.pk) for w in works]


def routing_dispatch(*, tenant_id, limit: int | None = None) -> int:
    """Offer waiting platform-routed work in rounds of `limit` items until a round makes no offer;
    returns the offers made. A round that made none because agents were locked by other transactions
    (an accept, a close, another round) is retried a few times after a short pause."""
    offered = 0
    retries = 0
    while True:
        result = routing_dispatch_round(tenant_id=tenant_id, limit=limit)
        offered += result.offered
        if result.offered:
            retries = 0
        elif result.contended and retries < 3:
            retries += 1
            time.sleep(0.01 * 2**retries)
        else:
            return offered


def dispatch_on_commit(*, tenant_id) -> None:
    """After this transaction commits, hand freed capacity to waiting work (`dispatch_request`)."""
    transaction.on_commit(lambda: dispatch_request(tenant_id=tenant_id), robust=True)


def dispatch_request(*, tenant_id) -> None:
    """Ask for a dispatch of the tenant's waiting work; never raises (the sweep is the safety net).

    On the embedded default (eager Celery) the dispatch runs here and now. Otherwise the request is
    coalesced in Redis: a trigger counter is incremented, and a `routing_dispatch_task` is queued only
    when no task of the tenant is queued and not yet started (`SET pending NX EX`), so a burst of
    triggers queues one task. The task clears `pending` as it starts — a later trigger queues the
    next one — and repeats its rounds while the counter moves, so a trigger that lands during a round
    is never lost even when another task skipped the rows this one held.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER:
        _dispatch_safely(tenant_id)
        return
    try:
        client = redis_client()
        if client is None:
            routing_dispatch_task.delay(str(tenant_id))
            return
        pending, triggers = _dispatch_keys(tenant_id)
        pipe = client.pipeline(transaction=False)
        pipe.incr(triggers)
        pipe.expire(triggers, 3600)
        pipe.set(pending, "1", nx=True, ex=settings.ROUTING_DISPATCH_PENDING_SECONDS)
        *_, first = pipe.execute()
        if first:
            try:
                routing_dispatch_task.delay(str(tenant_id))
            except Exception:
                client.delete(pending)  # let the next trigger try again
                raise
    except Exception:
        logger.exception("could not request a dispatch for tenant %s; the sweep will dispatch", tenant_id)


def routing_dispatch_requested(*, tenant_id) -> int:
    """What `routing_dispatch_task` runs: clear the pending flag, then dispatch, again as long as
    triggers arrived while it ran (see `dispatch_request`). Returns the offers made."""
    client = redis_client()
    if client is None:
        return routing_dispatch(tenant_id=tenant_id)
    pending, triggers = _dispatch_keys(tenant_id)
    offered = 0
    try:
        client.delete(pending)
        for _ in range(settings.ROUTING_DISPATCH_MAX_PASSES):
            seen = client.get(triggers)
            offered += routing_dispatch(tenant_id=tenant_id)
            if client.get(triggers) == seen:
                return offered
    except Exception:  # Redis failed: dispatch once without it; the sweep covers the rest
        logger.exception("dispatch coalescing failed for tenant %s", tenant_id)
        return offered + routing_dispatch(tenant_id=tenant_id)
    dispatch_request(tenant_id=tenant_id)  # still busy: hand over to a fresh task rather than run on
    return offered


def _dispatch_keys(tenant_id) -> tuple[str, str]:
    prefix = f"{settings.ROUTING_REDIS_PREFIX}:dispatch"
    return f"{prefix}:pending:{tenant_id}", f"{prefix}:triggers:{tenant_id}"


def _dispatch_safely(tenant_id) -> None:
    try:
        routing_dispatch(tenant_id=tenant_id)
    except Exception:  # the sweep will retry; never break the caller's response
        logger.exception("dispatch for tenant %s failed", tenant_id)
