"""The candidate pool of a dispatch round (`routing.services.routing_dispatch_round`), which routes
many items at once: it takes the snapshots through `CandidatePool`, locks the agents' presence rows,
counts their holding work under those locks into `AgentLoad`s and `pin`s the pool to them. From then
on the pool's candidates are exactly the locked agents with the room the database says they have,
and `taken` keeps that count as the round assigns — capacity is still counted in the database,
once per round."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from ..models import AgentPresence, WorkItem, call_blocks_messaging
from .candidates import Candidate, excluded_agents, qualified, requirement_levels, with_room
from .snapshots import candidate_snapshot


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
        return with_room(self._qualified[self._profile(work_item)], work_item)

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
        profile = (key, requirement_levels(work_item), excluded_agents(work_item))
        if profile not in self._qualified:
            self._qualified[profile] = qualified(self._snapshots[key], profile[1], profile[2])
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


def blocked_by_call(presence: AgentPresence | AgentLoad, used: dict[str, int], channel_type: str) -> bool:
    """Cross-channel rule (`call_blocks_messaging`) for a presence or a locked load."""
    return call_blocks_messaging(
        voice_blocks_messaging=presence.voice_blocks_messaging, used=used, channel_type=channel_type
    )
