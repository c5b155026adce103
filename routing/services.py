"""Writes of the routing app: presence, work items, offers and their lifecycle, dispatch.

Lock order — every transaction that locks routing rows takes them in this order, and never waits
for a second agent presence row:

    conversation (conversations' callers) → AgentWork → WorkItem → AgentPresence

- A transaction waits for at most one AgentPresence row lock. Every further presence row it takes —
  the next candidate when routing a new item (`_route`), the dispatch round's agents, the previous
  agent's bookkeeping after a transfer (`_released`) — is taken `FOR NO KEY UPDATE SKIP LOCKED`: a
  busy row is passed over, never waited for. An item whose candidates were all busy stays queued,
  and a dispatch round is asked for after commit (`dispatch_on_commit`), so it waits in the queue
  rather than fail. Two transactions thus never wait for each other's presence rows, which is what
  deadlocked concurrent arrivals when they tried the same agents in different rank orders.
- `work_offer` locks the WorkItem row, then the agent's AgentPresence row, and counts the agent's
  holding work under that lock — so no agent exceeds capacity and no work item gets two active
  offers however many processes route at once (the partial unique constraint
  `one_active_work_per_item` is the last line of defence).
- Accept, decline, expiry, close and ACW lock the AgentWork row, then its WorkItem, then (at most)
  the agent's presence row.

Should PostgreSQL still detect a deadlock or a serialization failure, the API edge retries the whole
transaction a bounded number of times with jitter and then answers 503 `retry_later`
(`ccp.core.db.retry_on_conflict`); Celery tasks retry the same way.

Waiting work is dispatched in batched rounds (`routing_dispatch_round`): one short transaction locks
up to N queued items, then their candidate agents' presence rows, both `FOR NO KEY UPDATE SKIP
LOCKED`, counts those agents' holding work with one aggregate under the locks and assigns in memory.
A round never waits for a row lock, so it cannot deadlock with an accept (work → item → presence) or
anything else; what it skipped is taken by the next round, trigger or sweep. Capacity changes ask
for a round after commit through `dispatch_on_commit`: inline on the embedded default (eager
Celery), else one coalesced `routing_dispatch_task` per tenant (`dispatch_request`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, FloatField, Func, Sum, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from ccp.core.bulk import bulk_insert, bulk_update
from ccp.core.db import retry_on_conflict
from ccp.core.errors import Invalid
from ccp.core.redaction import REDACTED, clean_needles, redact_json
from ccp.core.redis_health import redis_failed, redis_skipping
from ccp.events.services import event_publish, event_publish_many
from ccp.packages.choices import Owner
from tenants.models import Membership, Tenant

from .ai_services import ai_route_plan
from .choices import (
    ACTIVE_STATUSES,
    HOLDING_STATUSES,
    Engine,
    PresenceStatus,
    QueueOrdering,
    WorkItemStatus,
    WorkStatus,
)
from .engines import (
    AgentLoad,
    Candidate,
    CandidatePool,
    blocked_by_call,
    effective_requirements,
    platform_candidates,
    rank_platform,
)
from .errors import (
    AgentBusy,
    AgentNotFound,
    AgentUnavailable,
    AlreadyOffered,
    CapacityExhausted,
    NotRoutingOwner,
    OfferExpired,
)
from .models import AgentPresence, AgentWork, AiRoutingConfig, Queue, RouteDecision, RouteFeedback, WorkItem

logger = logging.getLogger(__name__)


def _setting(name: str, default):
    return getattr(settings, name, default)


# --- events ---------------------------------------------------------------------------------------


def _work_data(work: AgentWork) -> dict:
    item = work.work_item
    return {
        "work_id": str(work.id),
        "work_item_id": str(item.id),
        "kind": item.kind,
        "reference": item.reference,
        "agent_id": str(work.agent_id),
        "status": work.status,
        "engine": work.engine,
        "channel_type": work.channel_type,
        "offered_at": work.offered_at,
        "expires_at": work.expires_at,
        "acw_ends_at": work.acw_ends_at,
        "reason": work.reason,
        "is_transfer": item.is_transfer,
        "attributes": item.attributes,
    }


def _publish_work(work: AgentWork, type_: str, *, agents=None) -> None:
    event_publish(
        tenant=work.work_item.tenant,
        type=type_,
        data=_work_data(work),
        partner=work.work_item.partner,
        agent_ids=agents if agents is not None else [work.agent_id],
    )


def _publish_capacity(presence: AgentPresence) -> None:
    used = _used(presence.membership_id)
    event_publish(
        tenant=presence.tenant,
        type="agent.capacity_changed",
        data={
            "agent_id": str(presence.membership_id),
            "capacity": {
                k: {"max": presence.max_for(k), "used": used.get(k, 0)}
                for k in sorted(set(presence.capacity) | set(used))
            },
        },
        agent_ids=[presence.membership_id],
    )


def _used(membership_id) -> dict[str, int]:
    rows = (
        AgentWork.objects.filter(agent_id=membership_id, status__in=HOLDING_STATUSES)
        .values("channel_type")
        .annotate(total=Sum("weight"))
    )
    return {r["channel_type"]: int(r["total"] or 0) for r in rows}


# --- presence -------------------------------------------------------------------------------------


def _lock_presence(membership: Membership) -> AgentPresence:
    AgentPresence.objects.get_or_create(membership=membership, defaults={"tenant_id": membership.tenant_id})
    return (
        AgentPresence.objects.select_for_update(of=("self",))
        .select_related("membership", "tenant")
        .get(membership=membership)
    )


@transaction.atomic
def presence_set(*, membership: Membership, status: str, source: str = "agent") -> AgentPresence:
    """Set an agent's presence; going online makes waiting work flow to them at once."""
    if status not in PresenceStatus.values:
        raise Invalid(
            f"Unknown status '{status}'; use one of {', '.join(PresenceStatus.values)}.",
            code="invalid_status",
            details={"status": [f"must be one of {', '.join(PresenceStatus.values)}"]},
        )
    presence = _lock_presence(membership)
    if presence.status != status:
        presence.status = status
        presence.status_since = timezone.now()
        if status == PresenceStatus.ONLINE:
            presence.ignored_offers = 0
        presence.save(update_fields=["status", "status_since", "ignored_offers"])
        event_publish(
            tenant=presence.tenant,
            type="agent.status_changed",
            data={"agent_id": str(membership.pk), "status": status, "since": presence.status_since, "source": source},
            agent_ids=[membership.pk],
        )
        if status == PresenceStatus.ONLINE:
            dispatch_on_commit(tenant_id=presence.tenant_id)
    return presence


@transaction.atomic
def capacity_set(*, membership: Membership, capacity: dict[str, int]) -> AgentPresence:
    problems = {k: ["must be a whole number from 0 to 50"] for k, v in capacity.items() if not _small_int(v)}
    unknown = set(capacity) - {"messaging", "voice", "video"}
    for kind in unknown:
        problems[kind] = ["is not a channel type (messaging, voice, video)"]
    if problems:
        raise Invalid("Capacity must map channel types to whole numbers.", code="invalid_capacity", details=problems)
    presence = _lock_presence(membership)
    presence.capacity = {**presence.capacity, **{k: int(v) for k, v in capacity.items()}}
    presence.save(update_fields=["capacity"])
    _publish_capacity(presence)
    dispatch_on_commit(tenant_id=presence.tenant_id)
    return presence


def _small_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 50


# --- work items -----------------------------------------------------------------------------------


@transaction.atomic
def work_item_create(
    *,
    tenant: Tenant,
    reference: str,
    kind: str = "messaging_session",
    channel_type: str = "messaging",
    routing_owner: str = Owner.PLATFORM,
    partner=None,
    queue: Queue | None = None,
    required_skills: list[dict] | None = None,
    priority: int | None = None,
    attributes: dict | None = None,
    preferred_agent: Membership | None = None,
    is_transfer: bool = False,
    excluded_agents: list | None = None,
) -> WorkItem:
    """Queue a routable unit. Platform-owned work is routed now; partner-owned work asks the partner."""
    item = WorkItem.objects.create(
        tenant=tenant,
        kind=kind,
        reference=reference,
        channel_type=channel_type,
        routing_owner=routing_owner,
        partner=partner,
        queue=queue,
        required_skills=required_skills if required_skills is not None else (queue.required_skills if queue else []),
        priority=priority if priority is not None else (queue.priority if queue else 0),
        attributes=attributes or {},
        preferred_agent=preferred_agent,
        is_transfer=is_transfer,
        excluded_agents=[str(a) for a in excluded_agents or []],
    )
    if routing_owner == Owner.PARTNER:
        _request_partner_routing(item, routing_type="transfer" if is_transfer else "initial")
    else:
        _route(item, engine=Engine.PLATFORM, pool=None, created=True)
    return item


def _request_partner_routing(item: WorkItem, *, routing_type: str) -> None:
    item.routing_request_id = uuid.uuid4()
    item.routing_deadline = timezone.now() + timedelta(seconds=_setting("PARTNER_ROUTING_DEADLINE_SECONDS", 60))
    item.save(update_fields=["routing_request_id", "routing_deadline"])
    event_publish(
        tenant=item.tenant,
        type="routing.requested",
        data={
            "routing_request_id": str(item.routing_request_id),
            "routing_type": routing_type,
            "deadline": item.routing_deadline,
            "work_item_id": str(item.id),
            "kind": item.kind,
            "reference": item.reference,
            "channel_type": item.channel_type,
            "excluded_agents": item.excluded_agents,
            "attributes": item.attributes,
        },
        partner=item.partner,
    )


def work_item_cancel(*, work_item: WorkItem, reason: str = "") -> None:
    """End a work item that no longer needs an agent (the conversation closed): rescind open offers."""
    item = WorkItem.objects.select_for_update().get(pk=work_item.pk)
    for work in item.works.filter(status=WorkStatus.OFFERED).select_related("work_item"):
        _finish(work, WorkStatus.RESCINDED, reason=reason or "the conversation ended")
        _publish_work(work, "work.rescinded")
    if item.status in (WorkItemStatus.QUEUED, WorkItemStatus.OFFERED):
        item.status = WorkItemStatus.CANCELED
        item.done_at = timezone.now()
        item.save(update_fields=["status", "done_at"])


# --- routing ----------------------------------------------------------------------------------------


def work_route(
    *, work_item: WorkItem, engine: str = Engine.PLATFORM, pool: CandidatePool | None = None
) -> AgentWork | None:
    """Route one work item: the AI arm's candidates first when AI routing is on, then the platform's.

    Candidates are ranked by the queue's strategy; with AI routing enabled for the tenant, the A/B arm
    of the item decides whether the AI engine proposes who goes first (`ai_services.ai_route_plan`).
    Either way every offer goes through `work_offer` (capacity under the agent's lock), and when the
    AI's agents all refuse, the platform's ranking continues — an AI failure never strands the work.
    Logs a RouteDecision either way. Returns the offer, or None (the item stays queued and is
    dispatched when capacity frees). Precondition: inside a transaction.
    """
    item = work_item if pool is not None else WorkItem.objects.select_related("queue").get(pk=work_item.pk)
    return _route(item, engine=engine, pool=pool)


def _route(item: WorkItem, *, engine: str, pool: CandidatePool | None, created: bool = False) -> AgentWork | None:
    """`work_route` of an item in hand. `created`: this transaction just inserted it, so no other
    transaction can see it yet — neither reading it again nor locking it is needed."""
    started = time.perf_counter()
    if item.status != WorkItemStatus.QUEUED:
        return None
    strategy = item.queue.strategy if item.queue_id else _setting("ROUTING_DEFAULT_STRATEGY", "most_available")
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
        inputs=_decision_inputs(item, plan),
        candidates=[c.as_log() for c, _ in attempts[:20]],
        chosen_agent_id=work.agent_id if work else None,
        work=work,
        outcome="offered" if work else "no_agent",
        reason=reason[:300],
        latency_ms=(time.perf_counter() - started) * 1000,
    )
    return work


def _decision_inputs(item: WorkItem, plan) -> dict:
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
    used = _used(agent.pk)
    if blocked_by_call(presence, used, item.channel_type):
        raise CapacityExhausted(f"{agent.name} is on a call; no new {item.channel_type} work until it ends.")
    if used.get(item.channel_type, 0) + weight > presence.max_for(item.channel_type):
        raise CapacityExhausted(
            f"{agent.name} uses {used.get(item.channel_type, 0)} of {presence.max_for(item.channel_type)} "
            f"{item.channel_type} capacity."
        )
    if timeout_seconds is None:
        timeout_seconds = item.queue.offer_timeout_seconds if item.queue_id else _setting("ROUTING_OFFER_TIMEOUT", 30)
    now = timezone.now()
    # The item row is locked and queued, so it has no active work; the partial unique constraint
    # one_active_work_per_item fails this transaction should that invariant ever break.
    work = AgentWork.objects.create(
        tenant_id=item.tenant_id,
        work_item=item,
        agent=agent,
        channel_type=item.channel_type,
        weight=weight,
        engine=engine,
        expires_at=now + timedelta(seconds=timeout_seconds),
    )
    item.status = WorkItemStatus.OFFERED
    item.save(update_fields=["status"])
    presence.last_offered_at = now
    presence.save(update_fields=["last_offered_at"])
    work.work_item = item
    _publish_work(work, "work.offered")
    _schedule(work.expires_at, "routing.tasks.work_expire_task", str(work.pk))
    return work


def _finish(work: AgentWork, status: str, *, reason: str = "") -> None:
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
    work.save(update_fields=["status", "answered_at"])
    item = WorkItem.objects.select_for_update().get(pk=work.work_item_id)
    item.status = WorkItemStatus.ASSIGNED
    item.save(update_fields=["status"])
    # Only a non-zero counter is written: an accept then takes no presence row lock, so it neither
    # waits for nor holds up a dispatch round locking that agent.
    AgentPresence.objects.filter(membership_id=work.agent_id, ignored_offers__gt=0).update(ignored_offers=0)
    _publish_work(work, "work.accepted")
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
    item.excluded_agents = excluded[-_setting("ROUTING_EXCLUDE_RECENT", 5) :]
    item.status = WorkItemStatus.QUEUED
    item.save(update_fields=["excluded_agents", "status"])
    _publish_work(work, event_type)
    if item.routing_owner == Owner.PARTNER:
        _request_partner_routing(item, routing_type="transfer" if item.is_transfer else "initial")
    dispatch_on_commit(tenant_id=item.tenant_id)


def work_decline(*, work: AgentWork, reason: str = "") -> AgentWork:
    """The agent declines; the work goes back to whoever routes, excluding this agent."""
    work = _lock_work(work)
    if work.status != WorkStatus.OFFERED:
        raise OfferExpired()
    _finish(work, WorkStatus.DECLINED, reason=reason or "declined")
    _back_to_routing(work, event_type="work.declined")
    return work


def work_expire(*, work: AgentWork, now=None) -> AgentWork | None:
    """An unanswered offer times out (called by the countdown task or the sweep); idempotent."""
    work = _lock_work(work)
    if work.status != WorkStatus.OFFERED or work.expires_at > (now or timezone.now()):
        return None
    WorkItem.objects.select_for_update().filter(pk=work.work_item_id).first()  # lock order: work, item, presence
    _finish(work, WorkStatus.TIMED_OUT, reason="no answer before the offer expired")
    presence = _lock_presence(work.agent)
    presence.ignored_offers += 1
    limit = _setting("ROUTING_AWAY_AFTER_IGNORED", 3)
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
    _back_to_routing(work, event_type="work.timed_out")
    return work


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
        _publish_work(work, "work.closed")
        _publish_work(work, "work.acw_started")
        _schedule(work.acw_ends_at, "routing.tasks.work_acw_end_task", str(work.pk))
        return work
    work.status = WorkStatus.CLOSED
    work.ended_at = now
    work.save(update_fields=["status", "closed_at", "ended_at"])
    _released(work)
    _publish_work(work, "work.closed")
    return work


def work_acw_extend(*, work: AgentWork, seconds: int) -> AgentWork:
    work = _lock_work(work)
    if work.status != WorkStatus.ACW:
        raise OfferExpired("There is no after-conversation work to extend.", code="acw_not_active")
    if not (isinstance(seconds, int) and 1 <= seconds <= 3600):
        raise Invalid("Extend by 1 to 3600 seconds.", code="invalid_seconds", details={"seconds": ["1 to 3600"]})
    work.acw_ends_at = max(work.acw_ends_at or timezone.now(), timezone.now()) + timedelta(seconds=seconds)
    work.save(update_fields=["acw_ends_at"])
    _publish_work(work, "work.acw_started")
    _schedule(work.acw_ends_at, "routing.tasks.work_acw_end_task", str(work.pk))
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
    _publish_work(work, "work.acw_ended")
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
    _publish_work(work, "work.closed")
    return work


def _released(work: AgentWork) -> None:
    """Note when the agent's work ended (the "least recently busy" strategy reads it) and ask for a
    round. Bookkeeping only: a presence row another transaction holds is skipped, not waited for —
    after a transfer this is the second agent's row of the accepting transaction (module docstring)."""
    free = AgentPresence.objects.select_for_update(no_key=True, skip_locked=True).filter(membership_id=work.agent_id)
    AgentPresence.objects.filter(pk__in=free.values("pk")).update(last_work_ended_at=timezone.now())
    dispatch_on_commit(tenant_id=work.tenant_id)


# --- partner-owned routing ------------------------------------------------------------------------


def partner_route(
    *, work_item: WorkItem, agent: Membership | None = None, queue: Queue | None = None, routing_request_id=None
) -> AgentWork | None:
    """The partner answers routing.requested (or routes on its own): offer to an agent, or queue it."""
    item = WorkItem.objects.select_for_update().get(pk=work_item.pk)
    if item.routing_owner != Owner.PARTNER:
        raise NotRoutingOwner()
    if (
        routing_request_id is not None
        and item.routing_request_id
        and str(routing_request_id) != str(item.routing_request_id)
    ):
        raise Invalid(
            "routing_request_id does not match the open routing request of this conversation.",
            code="stale_routing_request",
            details={"routing_request_id": ["is not the current request"]},
        )
    if agent is not None:
        return work_offer(work_item=item, agent_id=agent.pk, engine=Engine.PARTNER)
    if queue is not None:
        if item.status != WorkItemStatus.QUEUED:
            raise AlreadyOffered()
        item.queue = queue
        item.routing_owner = Owner.PLATFORM  # the partner handed it to a platform queue
        item.required_skills = queue.required_skills
        item.priority = max(item.priority, queue.priority)
        item.save(update_fields=["queue", "routing_owner", "required_skills", "priority"])
        return work_route(work_item=item)
    raise Invalid("Give agent_id or queue.", code="invalid", details={"agent_id": ["agent_id or queue is required"]})


# --- dispatch: waiting work flows to freed capacity -----------------------------------------------


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
        for row in (
            AgentWork.objects.filter(agent_id__in=list(loads), status__in=HOLDING_STATUSES)
            .values("agent_id", "channel_type")
            .annotate(total=Sum("weight"))
        ):
            loads[row["agent_id"]].used[row["channel_type"]] = int(row["total"] or 0)
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
    limit = limit or _setting("ROUTING_DISPATCH_BATCH", 200)
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
    strategy = item.queue.strategy if item.queue_id else _setting("ROUTING_DEFAULT_STRATEGY", "most_available")
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
        timeout = item.queue.offer_timeout_seconds if item.queue_id else _setting("ROUTING_OFFER_TIMEOUT", 30)
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
            {"type": "work.offered", "data": _work_data(w), "partner": w.work_item.partner, "agent_ids": [w.agent_id]}
            for w in works
        ],
    )
    timers: dict = {}
    for w in works:
        timers.setdefault(w.expires_at, []).append(str(w.pk))
    for when, ids in timers.items():  # one per offer timeout in use, usually one per round
        _schedule(when, "routing.tasks.work_expire_batch_task", ids)
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
                inputs=_decision_inputs(a.item, a.plan),
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
    from .tasks import routing_dispatch_task

    try:
        client = _redis()
        if client is None:
            routing_dispatch_task.delay(str(tenant_id))
            return
        pending, triggers = _dispatch_keys(tenant_id)
        pipe = client.pipeline(transaction=False)
        pipe.incr(triggers)
        pipe.expire(triggers, 3600)
        pipe.set(pending, "1", nx=True, ex=_setting("ROUTING_DISPATCH_PENDING_SECONDS", 10))
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
    client = _redis()
    if client is None:
        return routing_dispatch(tenant_id=tenant_id)
    pending, triggers = _dispatch_keys(tenant_id)
    offered = 0
    try:
        client.delete(pending)
        for _ in range(_setting("ROUTING_DISPATCH_MAX_PASSES", 20)):
            seen = client.get(triggers)
            offered += routing_dispatch(tenant_id=tenant_id)
            if client.get(triggers) == seen:
                return offered
    except Exception:  # Redis failed: dispatch once without it; the sweep covers the rest
        logger.exception("dispatch coalescing failed for tenant %s", tenant_id)
        return offered + routing_dispatch(tenant_id=tenant_id)
    dispatch_request(tenant_id=tenant_id)  # still busy: hand over to a fresh task rather than run on
    return offered


def dispatch_pending(*, tenant_id) -> bool:
    """Whether a coalesced dispatch task of the tenant is queued and has not started yet."""
    client = _redis()
    return bool(client is not None and client.exists(_dispatch_keys(tenant_id)[0]))


def _dispatch_keys(tenant_id) -> tuple[str, str]:
    prefix = f"{_setting('ROUTING_REDIS_PREFIX', 'ccp:routing')}:dispatch"
    return f"{prefix}:pending:{tenant_id}", f"{prefix}:triggers:{tenant_id}"


_redis_lock = threading.Lock()
_redis_clients: dict = {}


def _redis():
    """A Redis client for REDIS_URL (one per process and URL), or None without Redis."""
    url = settings.REDIS_URL
    if not url:
        return None
    with _redis_lock:
        if url not in _redis_clients:
            import redis

            _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=5)
        return _redis_clients[url]


def _dispatch_safely(tenant_id) -> None:
    try:
        routing_dispatch(tenant_id=tenant_id)
    except Exception:  # the sweep will retry; never break the caller's response
        logger.exception("dispatch for tenant %s failed", tenant_id)


# --- timers -----------------------------------------------------------------------------------------


def _schedule(when, task_name: str, arg) -> None:
    """Run a task at `when`, after commit: a Celery countdown, or a timer thread on the embedded default."""

    def send():
        from . import tasks  # registers the tasks in processes that never imported them (manage.py)

        task = getattr(tasks, task_name.rsplit(".", 1)[-1])
        delay = max(0.0, (when - timezone.now()).total_seconds())
        if settings.CELERY_TASK_ALWAYS_EAGER:

            def run():
                try:
                    task.apply(args=(arg,))
                finally:
                    connection.close()  # this thread's own connection

            timer = threading.Timer(delay + 0.05, run)
            timer.daemon = True
            timer.start()
        elif not redis_skipping():  # Redis down: routing_sweep expires due offers and ends due ACW
            try:
                task.apply_async(args=(arg,), countdown=delay + 0.05)
            except Exception as exc:  # a broker retry costs ~0.6 s: let the next ones skip for a while
                redis_failed("routing timer", exc)

    transaction.on_commit(send, robust=True)


def work_expire_many(*, work_ids: list[str]) -> int:
    """Expire these offers if they are due (the batch timer of a dispatch round), each in its own
    transaction like a single timer; returns how many expired."""
    works = AgentWork.objects.filter(pk__in=work_ids, status=WorkStatus.OFFERED).order_by("expires_at")
    return sum(_expire_in_own_transaction(work) for work in works)


@retry_on_conflict
def _expire_in_own_transaction(work: AgentWork) -> bool:
    with transaction.atomic():
        return work_expire(work=work) is not None


def routing_sweep(*, now=None) -> dict[str, int]:
    """The safety net behind the timers: expire due offers, end due ACW, fall back from silent partners,
    overflow waiting work, relax skills and dispatch. Celery beat runs it every few seconds."""
    now = now or timezone.now()
    counts = {"expired": 0, "acw_ended": 0, "partner_fallback": 0, "overflowed": 0, "dispatched": 0}
    for work in AgentWork.objects.filter(status=WorkStatus.OFFERED, expires_at__lte=now).order_by("expires_at")[:500]:
        with transaction.atomic():
            counts["expired"] += work_expire(work=work, now=now) is not None
    for work in AgentWork.objects.filter(status=WorkStatus.ACW, acw_ends_at__lte=now)[:500]:
        with transaction.atomic():
            counts["acw_ended"] += work_acw_end(work=work, force=False, now=now) is not None
    stale = WorkItem.objects.filter(
        status=WorkItemStatus.QUEUED, routing_owner=Owner.PARTNER, routing_deadline__lte=now
    ).values_list("pk", flat=True)[:500]
    for pk in stale:
        with transaction.atomic():
            item = WorkItem.objects.select_for_update().get(pk=pk)
            if item.status == WorkItemStatus.QUEUED and item.routing_owner == Owner.PARTNER:
                item.routing_owner = Owner.PLATFORM
                item.attributes = {**item.attributes, "fallback": "the partner did not route before the deadline"}
                item.save(update_fields=["routing_owner", "attributes"])
                counts["partner_fallback"] += 1
                work_route(work_item=item)
    overflow = WorkItem.objects.filter(
        status=WorkItemStatus.QUEUED,
        queue__overflow_queue__isnull=False,
        queue__overflow_after_seconds__isnull=False,
    ).select_related("queue")[:500]
    for item in overflow:
        if (now - item.enqueued_at).total_seconds() >= item.queue.overflow_after_seconds:
            with transaction.atomic():
                WorkItem.objects.filter(pk=item.pk, status=WorkItemStatus.QUEUED).update(
                    queue=item.queue.overflow_queue_id, enqueued_at=now
                )
                counts["overflowed"] += 1
    for tenant_id in set(
        WorkItem.objects.filter(status=WorkItemStatus.QUEUED, routing_owner=Owner.PLATFORM).values_list(
            "tenant_id", flat=True
        )
    ):
        counts["dispatched"] += routing_dispatch(tenant_id=tenant_id)
    return counts


def work_items_erase(*, tenant: Tenant, references: list[str], needles: list[str]) -> dict:
    """Remove a person's data from the routing records of their work (an erase request).

    `references` are the routed things (session ids); `needles` the person's name, addresses and
    texts. Work items lose their attributes; route decisions keep engine, candidates' ids, outcome
    and timings (the audit and training signal) but lose the contact fields and any string that
    quotes the person; feedback keeps resolved and rating, not its comment. Runs in the caller's
    transaction."""
    needles = clean_needles(needles)
    items = WorkItem.objects.filter(tenant=tenant, reference__in=references)
    item_ids = list(items.values_list("pk", flat=True))
    items.exclude(attributes={}).update(attributes={})
    decisions = 0
    for decision in RouteDecision.objects.filter(tenant=tenant, work_item_id__in=item_ids):
        inputs = redact_json(decision.inputs, needles)
        candidates = redact_json(decision.candidates, needles)
        if inputs != decision.inputs or candidates != decision.candidates:
            RouteDecision.objects.filter(pk=decision.pk).update(inputs=inputs, candidates=candidates)
            decisions += 1
    comments = (
        RouteFeedback.objects.filter(tenant=tenant, work_item_id__in=item_ids)
        .exclude(comment="")
        .update(comment=REDACTED)
    )
    return {"work_items": len(item_ids), "route_decisions": decisions, "feedback_comments": comments}
