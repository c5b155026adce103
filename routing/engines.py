"""Routing engines and strategies: who should get a work item.

An engine ranks candidates; `routing.services.work_route` then offers to them in order through
`work_offer`, which checks capacity under the agent's row lock — so whichever engine decided
(platform, partner or AI), capacity is enforced in one place (FIG 18, 0193).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

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


def platform_candidates(*, work_item: WorkItem, now: datetime | None = None) -> list[Candidate]:
    """Online agents of the work's tenant (and queue) who have the skills and free capacity (3 queries)."""
    now = now or timezone.now()
    members = Membership.objects.filter(
        tenant_id=work_item.tenant_id,
        role__in=[Role.AGENT, Role.SUPERVISOR],
        presence__status=PresenceStatus.ONLINE,
    ).exclude(pk__in=work_item.excluded_agents or [])
    if work_item.queue_id and work_item.queue.members.exists():
        members = members.filter(queues=work_item.queue_id)
    presences = {
        p.membership_id: p
        for p in AgentPresence.objects.filter(membership__in=members).select_related("membership__user")
    }
    if not presences:
        return []
    skills: dict = {}
    for row in AgentSkill.objects.filter(membership_id__in=presences).select_related("skill"):
        skills.setdefault(row.membership_id, {})[row.skill.name] = row.level
    used: dict = {}
    for row in AgentWork.objects.filter(agent_id__in=presences, status__in=HOLDING_STATUSES).values(
        "agent_id", "channel_type", "weight"
    ):
        per = used.setdefault(row["agent_id"], {})
        per[row["channel_type"]] = per.get(row["channel_type"], 0) + row["weight"]
    requirements = effective_requirements(work_item, now)
    previous = (work_item.preferred_agent_id,) if work_item.preferred_agent_id else ()
    out = []
    for membership_id, presence in presences.items():
        agent_used = used.get(membership_id, {})
        if blocked_by_call(presence, agent_used, work_item.channel_type):
            continue
        maximum = presence.max_for(work_item.channel_type)
        in_use = agent_used.get(work_item.channel_type, 0)
        if maximum - in_use <= 0:
            continue
        agent_skills = skills.get(membership_id, {})
        if not all(agent_skills.get(r["skill"], 0) >= int(r.get("level", 1)) for r in requirements):
            continue
        out.append(
            Candidate(
                membership_id=membership_id,
                name=presence.membership.name,
                free=maximum - in_use,
                maximum=maximum,
                used=in_use,
                skills=agent_skills,
                idle_since=presence.last_work_ended_at or presence.status_since,
                last_offered_at=presence.last_offered_at,
                previous=membership_id in previous,
            )
        )
    return out


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
