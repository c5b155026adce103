"""Routing engines and strategies: who should get a work item.

An engine ranks candidates; `routing.services.work_route` then offers to them in order through
`work_offer`, which checks capacity under the agent's row lock — so whichever engine decided
(platform, partner or AI), capacity is enforced in one place (FIG 18, 0193).

A dispatch round (`routing.services.routing_dispatch_round`) routes many items at once: it takes
the snapshots through `CandidatePool`, locks the agents' presence rows, counts their holding work
under those locks into `AgentLoad`s and `pin`s the pool to them. From then on the pool's candidates
are exactly the locked agents with the room the database says they have, and `taken` keeps that
count as the round assigns — capacity is still counted in the database, once per round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Protocol

from django.utils import timezone

from tenants.choices import Role
from tenants.models import Membership

from .choices import PresenceStatus, Strategy
from .models import AgentPresence, AgentSkill, AgentWork, WorkItem, call_blocks_messaging


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

    @cached_property
    def agent_key(self) -> str:
        return str(self.membership_id)

    def as_log(self) -> dict:
        return {"agent_id": self.agent_key, "free": self.free, "used": self.used, "max": self.maximum}


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
    used = AgentWork.objects.filter(agent_id__in=ids).used_capacity()
    skills: dict = {}
    for membership_id, name, level in AgentSkill.objects.filter(membership_id__in=ids).values_list(
        "membership_id", "skill__name", "level"
    ):
        skills.setdefault(membership_id, {})[name] = level
    out = []
    for row in rows:
        agent_used = used.get(row["membership_id"], {})
        if call_blocks_messaging(
            voice_blocks_messaging=row["voice_blocks_messaging"], used=agent_used, channel_type=channel_type
        ):
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
    qualified = _qualified(snapshot, _requirement_levels(work_item, now), _excluded(work_item))
    return _with_room(qualified, work_item)


def _requirement_levels(work_item: WorkItem, now: datetime | None = None) -> tuple:
    return tuple((r["skill"], int(r.get("level", 1))) for r in effective_requirements(work_item, now))


def _excluded(work_item: WorkItem) -> frozenset:
    return frozenset(str(a) for a in work_item.excluded_agents or [])


def _qualified(snapshot: list[Candidate], levels: tuple, excluded: frozenset) -> list[Candidate]:
    """Who may take work with these skill levels and exclusions, room or not."""
    return [
        c
        for c in snapshot
        if not (excluded and str(c.membership_id) in excluded)
        and all(c.skills.get(skill, 0) >= level for skill, level in levels)
    ]


def _with_room(qualified: list[Candidate], work_item: WorkItem) -> list[Candidate]:
    out = [c for c in qualified if c.free > 0]
    preferred = work_item.preferred_agent_id
    for c in out:
        c.previous = preferred is not None and c.membership_id == preferred
    return out


@dataclass
class AgentLoad:
    """An agent's presence read under its row lock in a dispatch round, and the capacity held then."""

    membership_id: object
    presence_id: int
    capacity: dict
    used: dict[str, int]
    voice_blocks_messaging: bool = True
    idle_since: datetime | None = None
    last_offered_at: datetime | None = None

    def max_for(self, channel_type: str) -> int:
        return int((self.capacity or {}).get(channel_type, 0) or 0)

    def free_for(self, channel_type: str) -> int:
        if blocked_by_call(self, self.used, channel_type):
            return 0
        return self.max_for(channel_type) - self.used.get(channel_type, 0)


class CandidatePool:
    """Snapshots shared by the items of one dispatch round, updated as offers are made."""

    def __init__(self) -> None:
        self._snapshots: dict = {}
        self._qualified: dict = {}
        self._loads: dict | None = None
        self._clock: datetime | None = None

    def candidates(self, work_item: WorkItem) -> list[Candidate]:
        return _with_room(self._qualified[self._profile(work_item)], work_item)

    def _profile(self, work_item: WorkItem) -> tuple:
        """Take the snapshot of the item's (queue, channel type) once, and filter who qualifies (skills,
        exclusions) once per distinct need: that does not change during a round, only who has room."""
        key = (work_item.queue_id, work_item.channel_type)
        if key not in self._snapshots:
            self._snapshots[key] = candidate_snapshot(
                tenant_id=work_item.tenant_id, channel_type=work_item.channel_type, queue=work_item.queue
            )
            if self._loads is not None:
                self._index(key)
        profile = (key, _requirement_levels(work_item), _excluded(work_item))
        if profile not in self._qualified:
            self._qualified[profile] = _qualified(self._snapshots[key], profile[1], profile[2])
        return profile

    def agents_for(self, work_items: list[WorkItem]) -> set:
        """The agents who qualify for any of these items and had room in the snapshot: whom a dispatch
        round locks."""
        profiles = {self._profile(item) for item in work_items}
        return {c.membership_id for profile in profiles for c in self._qualified[profile] if c.free > 0}

    def pin(self, loads: dict) -> None:
        """From now on count capacity from `loads` (agent id → AgentLoad, read under the agents' row
        locks); an agent without a load (not locked, no longer online) is no candidate."""
        self._loads = loads
        self._by_agent: dict = {}
        for key in self._snapshots:
            self._index(key)

    def _index(self, key) -> None:
        for c in self._snapshots[key]:
            self._by_agent.setdefault(c.membership_id, []).append((key[1], c))
            self._count(c, key[1])

    def _count(self, c: Candidate, channel_type: str) -> None:
        load = self._loads.get(c.membership_id)
        if load is None:
            c.free = 0
            return
        c.maximum = load.max_for(channel_type)
        c.used = load.used.get(channel_type, 0)
        c.free = load.free_for(channel_type)
        c.idle_since = load.idle_since
        c.last_offered_at = load.last_offered_at

    def taken(self, membership_id, weight: int = 1, channel_type: str | None = None) -> None:
        now = timezone.now()
        if self._loads is not None and membership_id in self._loads:
            # strictly increasing within a round, so round robin moves on even within one microsecond
            if self._clock is not None and now <= self._clock:
                now = self._clock + timedelta(microseconds=1)
            self._clock = now
            load = self._loads[membership_id]
            load.used[channel_type] = load.used.get(channel_type, 0) + weight
            load.last_offered_at = now
            for candidate_channel, c in self._by_agent.get(membership_id, ()):
                self._count(c, candidate_channel)  # all channel types: a call blocks new chats
            return
        for snapshot in self._snapshots.values():
            for c in snapshot:
                if c.membership_id == membership_id:
                    c.used += weight
                    c.free -= weight
                    c.last_offered_at = now

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


def blocked_by_call(presence: AgentPresence | AgentLoad, used: dict[str, int], channel_type: str) -> bool:
    """Cross-channel rule (`call_blocks_messaging`) for a presence or a locked load."""
    return call_blocks_messaging(
        voice_blocks_messaging=presence.voice_blocks_messaging, used=used, channel_type=channel_type
    )


def rank_platform(*, work_item: WorkItem, candidates: list[Candidate], strategy_name: str) -> list[Candidate]:
    strategy = STRATEGIES.get(strategy_name) or STRATEGIES[Strategy.MOST_AVAILABLE]
    ranked = strategy.rank(candidates)
    prefer = work_item.queue.prefer_previous_agent if work_item.queue_id else True
    if prefer:
        ranked.sort(key=lambda c: not c.previous)  # stable: the previous agent first, the rest in order
    return ranked
