"""SLA clocks (docs/reports.md, "SLA"): started and stopped by the conversation's own services, warned
and breached by the sweep. Builds on `payloads` only; `lifecycle`, `outbound` and `inbound` call it.

Rules (the docs carry the same words):
- first response: starts at the conversation's first end-user message, stops at the first agent
  (or supervisor) reply;
- next response: starts at an end-user message after an agent reply (unless one is running), stops
  at the next reply;
- resolution: starts when the conversation opened, stops when it closes;
- closing stops every running clock (a response clock closed unanswered is met if closed in time);
- a clock's due instant is its start + the target in the calendar's open time (tenants.business_hours),
  the warning instant 80 % of that; waiting on the end user pauses no clock.

Hot path: a tenant without a policy costs no query (its policies are cached per process,
`_tenant_policies`); closing costs one (`sla_conversation_closed`).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ccp.core.local_cache import LocalTtlCache
from routing.models import WorkItem
from tenants import business_hours

from ..choices import Direction, SenderType
from ..models import Conversation, Message, Session, SlaClock, SlaPolicy
from ..models_sla import SlaTarget
from .payloads import conversation_publish

WARNING_SHARE = 0.8


# The tenant's policies, per process (the hot path would pay a query per message otherwise); cleared
# on any change of a policy or calendar in this process, and after HOT_LOOKUP_CACHE_SECONDS elsewhere.
_policies: LocalTtlCache[tuple] = LocalTtlCache()


def forget_sla_policies(**_signal_kwargs) -> None:
    _policies.clear()


def _tenant_policies(tenant_id) -> tuple:
    return _policies.get_or_load(
        tenant_id,
        lambda: tuple(
            SlaPolicy.objects.filter(tenant_id=tenant_id).select_related(
                "business_hours", "queue__business_hours", "channel__business_hours"
            )
        ),
    )


def _policy_for(conversation: Conversation) -> SlaPolicy | None:
    """The policy of the queue the conversation was last routed to, else the channel's. No query
    when the tenant has no policy (cached); two more when it has queue policies."""
    if conversation.channel_id is None:
        return None
    found = [
        p for p in _tenant_policies(conversation.tenant_id) if p.queue_id or p.channel_id == conversation.channel_id
    ]
    if not found:
        return None
    by_queue = {p.queue_id: p for p in found if p.queue_id is not None}
    if by_queue:
        sessions = [str(s) for s in Session.objects.filter(conversation=conversation).values_list("id", flat=True)]
        queues = (
            WorkItem.objects.filter(tenant_id=conversation.tenant_id, reference__in=sessions, queue__isnull=False)
            .order_by("-created_at")
            .values_list("queue_id", flat=True)
        )
        for queue_id in queues:
            if queue_id in by_queue:
                return by_queue[queue_id]
    return next((p for p in found if p.channel_id == conversation.channel_id), None)


def policy_calendar(policy: SlaPolicy) -> business_hours.Calendar | None:
    """The policy's calendar, else its queue's or channel's, else None (always open)."""
    owner = policy.queue if policy.queue_id else policy.channel
    hours = policy.business_hours or (owner.business_hours if owner is not None else None)
    return hours.calendar() if hours is not None else None


def clock_times(
    calendar: business_hours.Calendar | None, started_at: datetime, seconds: int
) -> tuple[datetime | None, datetime | None]:
    """(warn_at, due_at) of a clock: 80 % and 100 % of the target in open time from its start."""
    return (
        business_hours.business_deadline(calendar, started_at, seconds * WARNING_SHARE),
        business_hours.business_deadline(calendar, started_at, seconds),
    )


def _start(conversation, policy, calendar, target: str, started_at: datetime) -> None:
    seconds = policy.target_seconds(target)
    if not seconds:
        return
    warn_at, due_at = clock_times(calendar, started_at, seconds)
    SlaClock.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        policy=policy,
        policy_name=policy.name,
        target=target,
        target_seconds=seconds,
        started_at=started_at,
        warn_at=warn_at,
        due_at=due_at,
    )


def _stop(conversation: Conversation, clock: SlaClock, at: datetime) -> None:
    clock.stopped_at = at
    clock.met = clock.due_at is None or at <= clock.due_at
    fields = ["stopped_at", "met"]
    if not clock.met and clock.breached_at is None:  # the sweep had not come round yet: report it now
        clock.breached_at = at
        fields.append("breached_at")
        _publish(conversation, clock, "sla.breached")
    clock.save(update_fields=fields)


def _sync(conversation: Conversation, *, wrote_at: datetime | None = None, replied_at: datetime | None = None) -> None:
    policy = _policy_for(conversation)
    if policy is None:
        return
    clocks = list(SlaClock.objects.filter(conversation=conversation).select_for_update())
    running = {c.target: c for c in clocks if c.stopped_at is None}
    had = {c.target for c in clocks}
    calendar = policy_calendar(policy)
    if SlaTarget.RESOLUTION not in had:
        _start(conversation, policy, calendar, SlaTarget.RESOLUTION, conversation.created_at)
    if replied_at is not None:
        for target in (SlaTarget.FIRST_RESPONSE, SlaTarget.NEXT_RESPONSE):
            if target in running:
                _stop(conversation, running[target], replied_at)
    if wrote_at is not None and not ({SlaTarget.FIRST_RESPONSE, SlaTarget.NEXT_RESPONSE} & running.keys()):
        if SlaTarget.FIRST_RESPONSE in had:  # a response clock stopped: an agent has replied since
            _start(conversation, policy, calendar, SlaTarget.NEXT_RESPONSE, wrote_at)
            return
        # no clock yet: the first end-user message, or the agent spoke first (an outbound conversation),
        # or the policy came after the conversation's start — the messages before this one tell
        last = (
            Message.objects.filter(conversation=conversation, created_at__lt=wrote_at)
            .filter(Q(direction=Direction.INBOUND) | Q(direction=Direction.OUTBOUND, sender_type=SenderType.AGENT))
            .order_by("-seq")
            .values_list("sender_type", flat=True)
            .first()
        )
        if last is None:
            _start(conversation, policy, calendar, SlaTarget.FIRST_RESPONSE, wrote_at)
        elif last == SenderType.AGENT:
            _start(conversation, policy, calendar, SlaTarget.NEXT_RESPONSE, wrote_at)
        # else: the end user was already waiting when the policy came: no clock for that wait


def sla_end_user_wrote(conversation: Conversation, *, at: datetime) -> None:
    """End-user message(s) stored (the caller holds the conversation's lock); `at`: the first one's time."""
    _sync(conversation, wrote_at=at)


def sla_agent_replied(conversation: Conversation, *, at: datetime) -> None:
    """An agent's or supervisor's reply stored (the caller holds the conversation's lock)."""
    _sync(conversation, replied_at=at)


def sla_conversation_closed(conversation: Conversation, *, at: datetime) -> None:
    """Every running clock stops at the close. One query when nothing runs."""
    for clock in SlaClock.objects.filter(conversation=conversation, stopped_at__isnull=True).select_for_update():
        _stop(conversation, clock, at)


def sla_data(clock: SlaClock) -> dict:
    return {
        "conversation_id": str(clock.conversation_id),
        "target": clock.target,
        "started_at": clock.started_at,
        "due_at": clock.due_at,
        "policy_id": str(clock.policy_id) if clock.policy_id else None,
        "policy_name": clock.policy_name,
    }


def _publish(conversation: Conversation, clock: SlaClock, type_: str) -> None:
    extra = {"warned_at": clock.warned_at} if type_ == "sla.warning" else {"breached_at": clock.breached_at}
    conversation_publish(conversation, type_, {**sla_data(clock), **extra})


def sla_sweep(*, now: datetime | None = None, limit: int = 500) -> dict:
    """Publish `sla.warning` for running clocks past 80 % and `sla.breached` for those past due, once
    each: the clock's row is locked (skipping rows another sweep holds) and marked in the same
    transaction as the event. Returns the counts."""
    now = now or timezone.now()
    counts = {"warned": 0, "breached": 0}
    for kind, due_field, mark in (("warned", "warn_at", "warned_at"), ("breached", "due_at", "breached_at")):
        with transaction.atomic():
            clocks = (
                SlaClock.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(stopped_at__isnull=True, **{f"{due_field}__lte": now, f"{mark}__isnull": True})
                .select_related("conversation__tenant", "conversation__partner")
                .order_by(due_field)[:limit]
            )
            for clock in clocks:
                if kind == "warned" and clock.breached_at is not None:
                    continue
                setattr(clock, mark, now)
                clock.save(update_fields=[mark])
                _publish(clock.conversation, clock, "sla.warning" if kind == "warned" else "sla.breached")
                counts[kind] += 1
    return counts
