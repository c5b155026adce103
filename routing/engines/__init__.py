"""Routing engines and strategies: who should get a work item.

An engine ranks candidates; `routing.services.work_route` then offers to them in order through
`work_offer`, which checks capacity under the agent's row lock — so whichever engine decided
(platform, partner or AI), capacity is enforced in one place (FIG 18, 0193).

The modules depend one way (pool → snapshots, strategies → candidates; an import-linter contract
in pyproject.toml holds it):

- `candidates`: the `Candidate` an engine ranks and the filters every engine's candidates pass
  (skills after relaxation, exclusions, room).
- `snapshots`: who is online with room, in one statement, 3 flat queries on SQLite (`candidate_snapshot`,
  `platform_candidates`).
- `strategies`: most available, longest idle, round robin (`rank_platform`).
- `pool`: the `CandidatePool` of a dispatch round, pinned to the `AgentLoad`s read under the
  agents' row locks.

Import from here: `from routing.engines import …`.
"""

from .candidates import Candidate, effective_requirements, eligible
from .pool import AgentLoad, CandidatePool, blocked_by_call
from .snapshots import candidate_snapshot, platform_candidates
from .strategies import STRATEGIES, LongestIdle, MostAvailable, RoundRobin, RoutingStrategy, rank_platform

__all__ = [
    "STRATEGIES",
    "AgentLoad",
    "Candidate",
    "CandidatePool",
    "LongestIdle",
    "MostAvailable",
    "RoundRobin",
    "RoutingStrategy",
    "blocked_by_call",
    "candidate_snapshot",
    "effective_requirements",
    "eligible",
    "platform_candidates",
    "rank_platform",
]
