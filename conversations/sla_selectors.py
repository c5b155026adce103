"""The SLA state of conversations (docs/reports.md, "SLA"): the most urgent running clock of each."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from .models import SlaClock


def sla_state(clock: SlaClock, now: datetime) -> str:
    """ok, warning (80 % of the target passed) or breached (past due)."""
    if clock.breached_at is not None or (clock.due_at is not None and clock.due_at <= now):
        return "breached"
    if clock.warned_at is not None or (clock.warn_at is not None and clock.warn_at <= now):
        return "warning"
    return "ok"


def sla_for_conversations(*, conversation_ids: Iterable, now: datetime | None = None) -> dict[str, dict]:
    """Conversation id → {target, due_at, warn_at, state} of its running clock due first (a clock that
    never comes due counts last); conversations without a running clock are absent. One query."""
    ids = [str(i) for i in conversation_ids]
    if not ids:
        return {}
    now = now or timezone.now()
    out: dict[str, dict] = {}
    clocks = SlaClock.objects.filter(conversation_id__in=ids, stopped_at__isnull=True).order_by(
        "conversation_id", "due_at"
    )  # PostgreSQL sorts nulls last
    for clock in clocks:
        key = str(clock.conversation_id)
        if key not in out:
            out[key] = {
                "target": clock.target,
                "due_at": clock.due_at,
                "warn_at": clock.warn_at,
                "state": sla_state(clock, now),
            }
    return out
