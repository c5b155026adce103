"""Routing engines and strategies: who should get a work item.

An engine ranks candidates; `routing.services.work_route` then offers to them in order through
`work_offer`, which checks capacity under the agent's row lock — so whichever engine decided
(platform, partner or AI), capacity is enforced in one place (FIG 18, 0193).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from django.db.models import Sum
from django.utils import timezone

from tenants.choices import Role
from tenants.models import Membership

from .choices import HOLDING_STATUSES, PresenceStatus, Strategy
from .models import AgentPresence, AgentSkill, AgentWork, WorkItem


@dataclass
class Candidate:
    """An online agent who could take the work, with what the strategies rank on."""

    membership_id: object
    name: str
    free: int
    maximum: int
    used: int
    skills: dict[str, int] = field(default_factory=dict)
    idle_since: datetime | None = None
    last_offered_at: datetime | None = None
    previous: bool = False

    @property
    def load(self) -> float:
        return self.used / self.maximum if self.maximum else 1.0

    def as_log(self) -> dict:
        return {"agent_id": str(self.membership_id), "free": self.free, "used": self.used, "max": self.maximum}


class RoutingStrategy(Protocol):
    name: str

    def rank(self, candidates: list[Candidate]) -> list[Candidate]: ...


class MostAvailable:
    name = Strategy.MOST_AVAILABLE

    def rank(self, candidates: list[Candidate]) -> list[Candidate]:
        epoch = timezone.now().replace(year=2000)
        return sorted(candidates, key=lambda c: (c.load, -c.free, c.idle_since or epoch))


class LongestIdle:
    name = Strategy.LONGEST_IDLE

    def rank(self, candidates: list[Candidate]) -> list[Candidate]:
        epoch = timezone.now().replace(year=2000)
        return sorted(candidates, key=lambda c: (c.used > 0, c.idle_since or epoch))


class RoundRobin:
    name = Strategy.ROUND_ROBIN

    def rank(self, candidates: list[Candidate]) -> list[Candidate]:
        epoch = timezone.now().replace(year=2000)
        return sorted(candidates, key=lambda c: (c.last_offered_at or epoch, str(c.membership_id)))


STRATEGIES: dict[str, RoutingStrategy] = {s.name: s for s in (MostAvailable(), LongestIdle(), RoundRobin())}


def effective_requirements(work_item: WorkItem, now: datetime | None = None) -> list[dict]:
    """Required skills after relaxation: an optional skill is dropped once the work waited `drop_after` s."""
    now = now or timezone.now()
    waited = (now - work_item.enqueued_at).total_seconds()
    out = []
    for req in work_item.required_skills or []:
        drop_after = req.get("drop_after")
        if req.get("optional") and drop_after is not None and waited >= float(drop_after):
            continue
        out.append(req)
    return out


def candidate_snapshot(*, tenant_id, channel_type: str, queue=None) -> list[Candidate]:
    """Online agents of a tenant (and queue) with free capacity for `channel_type`: 3 flat queries.

    A snapshot: `work_offer` re-checks capacity under the agent's row lock before any offer.
    """
    members = Membership.objects.filter(
        tenant_id=tenant_id, role__in=[Role.AGENT, Role.SUPERVISOR], presence__status=PresenceStatus.ONLINE
    )
    if queue is not None and queue.members.exists():
        members = members.filter(queues=queue)
    rows = list(
        AgentPresence.objects.filter(membership__in=members).values(
            "membership_id",
            "capacity",
            "voice_blocks_messaging",
            "last_work_ended_at",
            "status_since",
            "last_offered_at",
            "membership__display_name",
            "membership__user__username",
        )
    )
    if not rows:
        return []
    ids = [r["membership_id"] for r in rows]
    used: dict = {}
    for row in (
        AgentWork.objects.filter(agent_id__in=ids, status__in=HOLDING_STATUSES)
        .values("agent_id", "channel_type")
        .annotate(total=Sum("weight"))
    ):
        used.setdefault(row["agent_id"], {})[row["channel_type"]] = int(row["total"] or 0)
    skills: dict = {}
    for membership_id, name, level in AgentSkill.objects.filter(membership_id__in=ids).values_list(
        "membership_id", "skill__name", "level"
    ):
        skills.setdefault(membership_id, {})[name] = level
    out = []
    for row in rows:
        agent_used = used.get(row["membership_id"], {})
        on_call = agent_used.get("voice", 0) > 0 or agent_used.get("video", 0) > 0
        if row["voice_blocks_messaging"] and channel_type == "messaging" and on_call:
            continue
        maximum = int((row["capacity"] or {}).get(channel_type, 0) or 0)
        in_use = agent_used.get(channel_type, 0)
        if maximum - in_use <= 0:
            continue
        out.append(
            Candidate(
                membership_id=row["membership_id"],
                name=row["membership__display_name"] or row["membership__user__username"],
                free=maximum - in_use,
                maximum=maximum,
                used=in_use,
                skills=skills.get(row["membership_id"], {}),
                idle_since=row["last_work_ended_at"] or row["status_since"],
                last_offered_at=row["last_offered_at"],
            )
        )
    return out


def eligible(*, work_item: WorkItem, snapshot: list[Candidate], now: datetime | None = None) -> list[Candidate]:
    """The snapshot's candidates who may take this work item: not excluded, with the skills, with room."""
    excluded = {str(a) for a in work_item.excluded_agents or []}
    requirements = effective_requirements(work_item, now)
    out = []
    for c in snapshot:
        if c.free <= 0 or str(c.membership_id) in excluded:
            continue
        if not all(c.skills.get(r["skill"], 0) >= int(r.get("level", 1)) for r in requirements):
            continue
        c.previous = c.membership_id == work_item.preferred_agent_id
        out.append(c)
    return out


class CandidatePool:
    """Snapshots shared by the items of one dispatch round, updated as offers are made."""

    def __init__(self) -> None:
        self._snapshots: dict = {}

    def candidates(self, work_item: WorkItem) -> list[Candidate]:
        key = (work_item.queue_id, work_item.channel_type)
        if key not in self._snapshots:
            self._snapshots[key] = candidate_snapshot(
                tenant_id=work_item.tenant_id, channel_type=work_item.channel_type, queue=work_item.queue
            )
        return eligible(work_item=work_item, snapshot=self._snapshots[key])

    def taken(self, membership_id, weight: int = 1) -> None:
        for snapshot in self._snapshots.values():
            for c in snapshot:
                if c.membership_id == membership_id:
                    c.used += weight
                    c.free -= weight
                    c.last_offered_at = timezone.now()

    def refused(self, membership_id) -> None:
        for snapshot in self._snapshots.values():
            for c in snapshot:
                if c.membership_id == membership_id:
                    c.free = 0


def platform_candidates(*, work_item: WorkItem, now: datetime | None = None) -> list[Candidate]:
    """Who could take this work item now (a fresh snapshot)."""
    snapshot = candidate_snapshot(
        tenant_id=work_item.tenant_id, channel_type=work_item.channel_type, queue=work_item.queue
    )
    return eligible(work_item=work_item, snapshot=snapshot, now=now)


def blocked_by_call(presence: AgentPresence, used: dict[str, int], channel_type: str) -> bool:
    """Cross-channel rule: an agent on a voice or video call gets no new messaging work."""
    on_call = used.get("voice", 0) > 0 or used.get("video", 0) > 0
    return bool(presence.voice_blocks_messaging and channel_type == "messaging" and on_call)


def rank_platform(*, work_item: WorkItem, candidates: list[Candidate], strategy_name: str) -> list[Candidate]:
    strategy = STRATEGIES.get(strategy_name) or STRATEGIES[Strategy.MOST_AVAILABLE]
    ranked = strategy.rank(candidates)
    prefer = work_item.queue.prefer_previous_agent if work_item.queue_id else True
    if prefer:
        ranked.sort(key=lambda c: not c.previous)  # stable: the previous agent first, the rest in order
    return ranked
