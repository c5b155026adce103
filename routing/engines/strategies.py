"""The platform's routing strategies: how the candidates who may take a work item are ranked."""

from __future__ import annotations

from typing import Protocol

from django.utils import timezone

from ..choices import Strategy
from ..models import WorkItem
from .candidates import Candidate


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


def rank_platform(*, work_item: WorkItem, candidates: list[Candidate], strategy_name: str) -> list[Candidate]:
    strategy = STRATEGIES.get(strategy_name) or STRATEGIES[Strategy.MOST_AVAILABLE]
    ranked = strategy.rank(candidates)
    prefer = work_item.queue.prefer_previous_agent if work_item.queue_id else True
    if prefer:
        ranked.sort(key=lambda c: not c.previous)  # stable: the previous agent first, the rest in order
    return ranked
