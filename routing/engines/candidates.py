"""Who may take a work item: the candidate an engine ranks, and the skill, exclusion and room filters
(after skill relaxation) that every engine's candidates pass."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from django.utils import timezone

from ..models import WorkItem


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


def eligible(*, work_item: WorkItem, snapshot: list[Candidate], now: datetime | None = None) -> list[Candidate]:
    """The snapshot's candidates who may take this work item: not excluded, with the skills, with room."""
    who = qualified(snapshot, requirement_levels(work_item, now), excluded_agents(work_item))
    return with_room(who, work_item)


def requirement_levels(work_item: WorkItem, now: datetime | None = None) -> tuple:
    return tuple((r["skill"], int(r.get("level", 1))) for r in effective_requirements(work_item, now))


def excluded_agents(work_item: WorkItem) -> frozenset:
    return frozenset(str(a) for a in work_item.excluded_agents or [])


def qualified(snapshot: list[Candidate], levels: tuple, excluded: frozenset) -> list[Candidate]:
    """Who may take work with these skill levels and exclusions, room or not."""
    return [
        c
        for c in snapshot
        if not (excluded and str(c.membership_id) in excluded)
        and all(c.skills.get(skill, 0) >= level for skill, level in levels)
    ]


def with_room(who: list[Candidate], work_item: WorkItem) -> list[Candidate]:
    """Those of `who` with room; the work item's previous agent is marked (preferred when ranking)."""
    out = [c for c in who if c.free > 0]
    preferred = work_item.preferred_agent_id
    for c in out:
        c.previous = preferred is not None and c.membership_id == preferred
    return out
