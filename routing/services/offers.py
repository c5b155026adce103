"""Routing a work item and the lifecycle of its offers: offer, accept, decline, expiry, close, ACW,
release after a transfer. Lock order: see the package docstring (routing/services/__init__.py).
"""

from __future__ import annotations

import contextlib
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ccp.core.bulk import insert_sql, mark_saved
from ccp.core.db import retry_on_conflict
from ccp.core.errors import Invalid
from ccp.events.services import event_publish, events_deferred, events_written
from ccp.packages.choices import Owner
from tenants.models import Membership

from .. import sql
from ..choices import (
    ACTIVE_STATUSES,
    Engine,
    PresenceStatus,
    WorkItemStatus,
    WorkStatus,
)
from ..engines import (
    CandidatePool,
    blocked_by_call,
    platform_candidates,
    rank_platform,
)
from ..errors import (
    AgentBusy,
    AgentNotFound,
    AgentUnavailable,
    AlreadyOffered,
    CapacityExhausted,
    OfferExpired,
)
from ..models import AgentPresence, AgentWork, RouteDecision, WorkItem
from ..tasks import work_acw_end_task, work_expire_task
from .ai_plan import ai_route_plan
from .dispatch import dispatch_on_commit, route_decision_inputs
from .events import agent_capacity_used, partner_routing_request, work_publish
from .presence import presence_lock, presence_span_record
from .timers import timer_start


def work_route(
    *, work_item: WorkItem, engine: str = Engine.PLATFORM, pool: CandidatePool | None = None
) -> AgentWork | None:
    """Route one work item: the AI arm's candidates first when AI routing is on, then the platform's.

    Candidates are ranked by the queue's strategy; with AI routing enabled for the tenant, the A/B arm
    of the item decides whether the AI engine proposes who goes first (`ai_plan.ai_route_plan`).
    Either way every offer goes through `work_offer` (capacity under the agent's lock), and when the
    AI's agents all refuse, the platform's ranking continues — an AI failure never strands the work.
    Logs a RouteDecision either way. Returns the offer, or None (the item stays queued and is
    dispatched when capacity frees). Precondition: inside a transaction.
    """
    item = work_item if pool is not None else WorkItem.objects.select_related("queue").get(pk=work_item.pk)
    return work_route_item(item, engine=engine, pool=pool)


def work_route_item(
    item: WorkItem, *, engine: str, pool: CandidatePool | None, created: bool = False
) -> AgentWork | None:
    """`work_route` of an item in hand. `created`: this transaction just inserted it, so no other
    transaction can see it yet — neither reading it again nor locking it is needed."""
    started = time.perf_counter()
    if item.status != WorkItemStatus.QUEUED:
        return None
    strategy = item.queue.strategy if item.queue_id else settings.ROUTING_DEFAULT_STRATEGY
    found = pool.candidates(item) if pool is not None else platform_candidates(work_item=item)
    candidates = rank_platform(work_item=item, candidates=list(found), strategy_name=strategy)
    plan = None
    if engine == Engine.PLATFORM:
        plan = ai_route_plan(work_item=item, candidates=found, platform_ranked=candidates, allow_provider=pool is None)
    attempts = [(c, Engine.AI) for c in (plan.ranked if plan else [])]
    tried = {c.membership_id for c, _ in attempts}
    attempts += [(c, engine) for c in candidates if c.membership_id not in tried]
    work = None
    refused = []
    busy = False
    for candidate, by in attempts:
        try:
            # work_offer refuses (raises) before it writes anything, so inside the caller's transaction
            # no savepoint is needed to try the next candidate
            with contextlib.nullcontext() if connection.in_atomic_block else transaction.atomic():
                if created:
                    work = _offer(item, agent_id=candidate.membership_id, engine=by, wait=False)
                else:
                    work = work_offer(work_item=item, agent_id=candidate.membership_id, engine=by, wait=False)
            if pool is not None:
                pool.taken(candidate.membership_id, work.weight, item.channel_type)
            break
        except (CapacityExhausted, AgentUnavailable) as exc:  # lost a race for that agent: try the next
            busy = busy or isinstance(exc, AgentBusy)
            refused.append({"agent_id": str(candidate.membership_id), "code": exc.code, "engine": by})
            if pool is not None:
                pool.refused(candidate.membership_id)
        except AlreadyOffered:
            return None
    decided_by = work.engine if work else (Engine.AI if plan and plan.ranked else engine)
    reason = ""
    if plan is not None:
        reason = plan.reason
        if plan.ranked and work is not None and work.engine != Engine.AI:
            reason = f"{plan.reason}; every AI candidate refused ({len(plan.ranked)}), platform routing"
    if work is None:
        why = _decision_reason(work, refused)
        reason = f"{reason}; {why}" if reason else why
        if busy:  # an agent being offered other work may still have room: a round tries after commit
            dispatch_on_commit(tenant_id=item.tenant_id)
    RouteDecision.objects.create(
        tenant_id=item.tenant_id,
        work_item=item,
        engine=decided_by,
        arm=plan.arm if plan else "",
        strategy=strategy,
        inputs=route_decision_inputs(item, plan),
        candidates=[c.as_log() for c, _ in attempts[:20]],
        chosen_agent_id=work.agent_id if work else None,
        work=work,
        outcome="offered" if work else "no_agent",
        reason=reason[:300],
        latency_ms=(time.perf_counter() - started) * 1000,
    )
    return work


def _decision_reason(work, refused: list[dict]) -> str:
    """Why no offer was made, short enough for the log column whatever the number of candidates."""
    if work is not None:
        return ""
    if not refused:
        return "no agent with free capacity"
    codes = ", ".join(sorted({r["code"] for r in refused}))
    return f"{len(refused)} candidate(s) refused when offered ({codes})"[:300]


def work_offer(
    *,
    work_item: WorkItem,
    agent_id,
    engine: str = Engine.PLATFORM,
    timeout_seconds: int | None = None,
    weight: int = 1,
    wait: bool = True,
) -> AgentWork:
    """Offer a work item to one agent, atomically with the capacity check.

    Precondition: inside a transaction. Locks the work item, then the agent's presence row — waiting
    for it only with `wait` (the default, for a caller that holds no other presence row); without,
    a presence row locked by another transaction raises AgentBusy at once.
    """
    item = (
        WorkItem.objects.select_for_update(of=("self",))
        .select_related("tenant", "queue", "partner")
        .get(pk=work_item.pk)
    )
    return _offer(item, agent_id=agent_id, engine=engine, timeout_seconds=timeout_seconds, weight=weight, wait=wait)


def _offer(
    item: WorkItem,
    *,
    agent_id,
    engine: str,
    timeout_seconds: int | None = None,
    weight: int = 1,
    wait: bool = True,
) -> AgentWork:
    """`work_offer` once the item is locked (or was created by this transaction: nobody else sees it)."""
    if item.status != WorkItemStatus.QUEUED:  # an item with an active offer is never queued
        raise AlreadyOffered()
    presence = (
        AgentPresence.objects.select_for_update(of=("self",), no_key=True, skip_locked=not wait)
        .select_related("membership__user", "tenant")
        .filter(membership_id=agent_id, tenant_id=item.tenant_id)
        .first()
    )
    if presence is None:
        if not wait and AgentPresence.objects.filter(membership_id=agent_id, tenant_id=item.tenant_id).exists():
            raise AgentBusy()  # another transaction holds the row: pass it over rather than wait
        if not Membership.objects.filter(pk=agent_id, tenant_id=item.tenant_id).exists():
            raise AgentNotFound()
        raise AgentUnavailable("That agent has never been online.")  # no presence row yet
    agent = presence.membership
    if presence.status != PresenceStatus.ONLINE:
        raise AgentUnavailable(f"{agent.name} is {presence.status}, not online.")
    used = agent_capacity_used(agent.pk)
    if blocked_by_call(presence, used, item.channel_type):
        raise CapacityExhausted(f"{agent.name} is on a call; no new {item.channel_type} work until it ends.")
    if used.get(item.channel_type, 0) + weight > presence.max_for(item.channel_type):
        raise CapacityExhausted(
            f"{agent.name} uses {used.get(item.channel_type, 0)} of {presence.max_for(item.channel_type)} "
            f"{item.channel_type} capacity."
        )
    if timeout_seconds is None:
        timeout_seconds = item.offer_timeout()
    now = timezone.now()
    # The item row is locked and queued, so it has no active work; the partial unique constraint
    # one_active_work_per_item fails this transaction should that invariant ever break.
    work = AgentWork(
        tenant_id=item.tenant_id,
        work_item=item,
        agent=agent,
        channel_type=item.channel_type,
        weight=weight,
        engine=engine,
        expires_at=now + timedelta(seconds=timeout_seconds),
    )
    item.status = WorkItemStatus.OFFERED
    presence.last_offered_at = now
    if sql.fast_path():  # the four writes in one statement (routing/sql.py)
        work_sql = insert_sql(work)  # built first: it fills offered_at, which the event below carries
        with events_deferred() as events:
            work_publish(work, "work.offered")
        event_ids = sql.offer_write(work_sql, item, presence, events)
        mark_saved(work)
        events_written(events, event_ids)
    else:
        work.save(force_insert=True)
        item.save(update_fields=["status"])
        presence.save(update_fields=["last_offered_at"])
        work_publish(work, "work.offered")
    timer_start(work.expires_at, work_expire_task, str(work.pk))
    return work


def work_finish(work: AgentWork, status: str, *, reason: str = "") -> None:
    now = timezone.now()
    work.status = status
    work.answered_at = work.answered_at or now
    work.ended_at = now
    work.reason = reason[:200]
    work.save(update_fields=["status", "answered_at", "ended_at", "reason"])


def _lock_work(work: AgentWork) -> AgentWork:
    return (
        AgentWork.objects.select_for_update(of=("self",))
        .select_related("work_item__tenant", "work_item__partner", "agent")
        .get(pk=work.pk)
    )


def work_accept(*, work: AgentWork) -> AgentWork:
    """The agent takes the offer. Precondition: in a transaction; the caller makes them a participant."""
    work = _lock_work(work)
    if work.status != WorkStatus.OFFERED or work.expires_at <= timezone.now():
        raise OfferExpired()
    work.status = WorkStatus.ACCEPTED
    work.answered_at = timezone.now()
    work.work_item.status = WorkItemStatus.ASSIGNED
    if sql.fast_path():  # the writes below in one statement (routing/sql.py)
        with events_deferred() as events:
            work_publish(work, "work.accepted")
        events_written(events, sql.accept_write(work, events))
        return work
    work.save(update_fields=["status", "answered_at"])
    # One UPDATE (it takes the item's row lock, as SELECT FOR UPDATE + save did); the item came with the work.
    WorkItem.objects.filter(pk=work.work_item_id).update(status=WorkItemStatus.ASSIGNED)
    # Only a non-zero counter is written: an accept then takes no presence row lock, so it neither
    # waits for nor holds up a dispatch round locking that agent.
    AgentPresence.objects.filter(membership_id=work.agent_id, ignored_offers__gt=0).update(ignored_offers=0)
    work_publish(work, "work.accepted")
    return work


def _back_to_routing(work: AgentWork, *, event_type: str) -> None:
    """After a decline or a timeout: exclude the agent and ask the partner again, or queue the item for
    platform routing right after this transaction commits.

    Not re-routed inline: that would take another agent's presence lock while this transaction may
    hold the first agent's (a timeout updates it), and two timeouts doing so in opposite order
    deadlock (seen in the bench). Each offer thus holds at most one presence lock.
    """
    item = WorkItem.objects.select_for_update().get(pk=work.work_item_id)
    excluded = list(dict.fromkeys([*item.excluded_agents, str(work.agent_id)]))
    item.excluded_agents = excluded[-settings.ROUTING_EXCLUDE_RECENT :]
    item.status = WorkItemStatus.QUEUED
    item.save(update_fields=["excluded_agents", "status"])
    work_publish(work, event_type)
    if item.routing_owner == Owner.PARTNER:
        partner_routing_request(item, routing_type="transfer" if item.is_transfer else "initial")
    dispatch_on_commit(tenant_id=item.tenant_id)


def work_decline(*, work: AgentWork, reason: str = "") -> AgentWork:
    """The agent declines; the work goes back to whoever routes, excluding this agent."""
    work = _lock_work(work)
    if work.status != WorkStatus.OFFERED:
        raise OfferExpired()
    work_finish(work, WorkStatus.DECLINED, reason=reason or "declined")
    _back_to_routing(work, event_type="work.declined")
    return work


def work_expire(*, work: AgentWork, now=None) -> AgentWork | None:
    """An unanswered offer times out (called by the countdown task or the sweep); idempotent."""
    work = _lock_work(work)
    if work.status != WorkStatus.OFFERED or work.expires_at > (now or timezone.now()):
        return None
    WorkItem.objects.select_for_update().filter(pk=work.work_item_id).first()  # lock order: work, item, presence
    work_finish(work, WorkStatus.TIMED_OUT, reason="no answer before the offer expired")
    presence = presence_lock(work.agent)
    presence.ignored_offers += 1
    limit = settings.ROUTING_AWAY_AFTER_IGNORED
    fields = ["ignored_offers"]
    if limit and presence.ignored_offers >= limit and presence.status == PresenceStatus.ONLINE:
        presence.status = PresenceStatus.AWAY
        presence.status_since = timezone.now()
        fields += ["status", "status_since"]
        event_publish(
            tenant=presence.tenant,
            type="agent.status_changed",
            data={
                "agent_id": str(presence.membership_id),
                "status": "away",
                "since": presence.status_since,
                "source": "routing",
                "reason": f"{presence.ignored_offers} offers in a row went unanswered",
            },
            agent_ids=[presence.membership_id],
        )
    presence.save(update_fields=fields)
    if "status" in fields:
        presence_span_record(presence)
    _back_to_routing(work, event_type="work.timed_out")
    return work


def work_expire_many(*, work_ids: list[str]) -> int:
    """Expire these offers if they are due (the batch timer of a dispatch round), each in its own
    transaction like a single timer; returns how many expired."""
    works = AgentWork.objects.filter(pk__in=work_ids, status=WorkStatus.OFFERED).order_by("expires_at")
    return sum(_expire_in_own_transaction(work) for work in works)


@retry_on_conflict
def _expire_in_own_transaction(work: AgentWork) -> bool:
    with transaction.atomic():
        return work_expire(work=work) is not None


def work_close(*, work: AgentWork, acw_seconds: int = 0) -> AgentWork:
    """The conversation work ends; capacity is held through after-conversation work, if any."""
    work = _lock_work(work)
    if work.status != WorkStatus.ACCEPTED:
        raise OfferExpired("This work is not in progress.", code="work_not_active")
    now = timezone.now()
    work.closed_at = now
    item = WorkItem.objects.select_for_update().get(pk=work.work_item_id)
    item.status = WorkItemStatus.DONE
    item.done_at = now
    item.save(update_fields=["status", "done_at"])
    if acw_seconds > 0:
        work.status = WorkStatus.ACW
        work.acw_ends_at = now + timedelta(seconds=acw_seconds)
        work.save(update_fields=["status", "closed_at", "acw_ends_at"])
        work_publish(work, "work.closed")
        work_publish(work, "work.acw_started")
        timer_start(work.acw_ends_at, work_acw_end_task, str(work.pk))
        return work
    work.status = WorkStatus.CLOSED
    work.ended_at = now
    work.save(update_fields=["status", "closed_at", "ended_at"])
    _released(work)
    work_publish(work, "work.closed")
    return work


def work_acw_extend(*, work: AgentWork, seconds: int) -> AgentWork:
    work = _lock_work(work)
    if work.status != WorkStatus.ACW:
        raise OfferExpired("There is no after-conversation work to extend.", code="acw_not_active")
    if not (isinstance(seconds, int) and 1 <= seconds <= 3600):
        raise Invalid("Extend by 1 to 3600 seconds.", code="invalid_seconds", details={"seconds": ["1 to 3600"]})
    work.acw_ends_at = max(work.acw_ends_at or timezone.now(), timezone.now()) + timedelta(seconds=seconds)
    work.save(update_fields=["acw_ends_at"])
    work_publish(work, "work.acw_started")
    timer_start(work.acw_ends_at, work_acw_end_task, str(work.pk))
    return work


def work_acw_end(*, work: AgentWork, force: bool = True, now=None) -> AgentWork | None:
    """End after-conversation work: by the agent (force) or when its timer runs out (idempotent)."""
    work = _lock_work(work)
    if work.status != WorkStatus.ACW:
        return None
    if not force and work.acw_ends_at and work.acw_ends_at > (now or timezone.now()):
        return None
    work.status = WorkStatus.CLOSED
    work.ended_at = timezone.now()
    work.save(update_fields=["status", "ended_at"])
    _released(work)
    work_publish(work, "work.acw_ended")
    return work


def work_release_for_transfer(*, work: AgentWork) -> AgentWork:
    """The first agent of a transfer leaves once the second accepted: their work ends with no ACW."""
    work = _lock_work(work)
    if work.status not in ACTIVE_STATUSES:
        return work
    now = timezone.now()
    work.status = WorkStatus.CLOSED
    work.closed_at = work.ended_at = now
    work.reason = "transferred"
    work.save(update_fields=["status", "closed_at", "ended_at", "reason"])
    item = WorkItem.objects.select_for_update().get(pk=work.work_item_id)
    if item.status in (WorkItemStatus.ASSIGNED, WorkItemStatus.OFFERED):
        item.status = WorkItemStatus.DONE
        item.done_at = now
        item.save(update_fields=["status", "done_at"])
    _released(work)
    work_publish(work, "work.closed")
    return work


def _released(work: AgentWork) -> None:
    """Note when the agent's work ended (the "least recently busy" strategy reads it) and ask for a
    round. Bookkeeping only: a presence row another transaction holds is skipped, not waited for —
    after a transfer this is the second agent's row of the accepting transaction (module docstring)."""
    free = AgentPresence.objects.select_for_update(no_key=True, skip_locked=True).filter(membership_id=work.agent_id)
    AgentPresence.objects.filter(pk__in=free.values("pk")).update(last_work_ended_at=timezone.now())
    dispatch_on_commit(tenant_id=work.tenant_id)
