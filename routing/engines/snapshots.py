"""Snapshots of who is online with room: one statement per (tenant, queue, channel type) on PostgreSQL,
3 flat queries elsewhere. A snapshot only proposes: `work_offer` re-checks capacity under the agent's
row lock before any offer."""

from __future__ import annotations

from datetime import datetime

from tenants.choices import Role
from tenants.models import Membership

from .. import sql
from ..choices import HOLDING_STATUSES, PresenceStatus
from ..models import AgentPresence, AgentSkill, AgentWork, WorkItem, call_blocks_messaging
from .candidates import Candidate, eligible


def candidate_snapshot(*, tenant_id, channel_type: str, queue=None) -> list[Candidate]:
    """Online agents of a tenant (and queue) with free capacity for `channel_type`: one statement on
    PostgreSQL (`routing.sql.candidate_rows`), 3 flat queries elsewhere (`orm_candidate_rows`)."""
    if sql.fast_path():
        rows = sql.candidate_rows(
            tenant_id=tenant_id,
            roles=[Role.AGENT, Role.SUPERVISOR],
            online=PresenceStatus.ONLINE,
            holding=HOLDING_STATUSES,
            queue_id=queue.pk if queue is not None else None,
        )
    else:
        rows = orm_candidate_rows(tenant_id=tenant_id, queue=queue)
    return _candidates(rows, channel_type)


def orm_candidate_rows(*, tenant_id, queue=None) -> list[dict]:
    """The rows `sql.candidate_rows` reads, through the ORM in 3 flat queries (and one for whether
    the queue lists members): presence and name, `used` capacity and `skills` of each online agent."""
    members = Membership.objects.filter(
        tenant_id=tenant_id, role__in=[Role.AGENT, Role.SUPERVISOR], presence__status=PresenceStatus.ONLINE
    )
    if queue is not None and queue.members.exists():
        members = members.filter(queues=queue)
    rows = list(AgentPresence.objects.filter(membership__in=members).values(*sql.CANDIDATE_FIELDS))
    if not rows:
        return []
    ids = [r["membership_id"] for r in rows]
    used = AgentWork.objects.filter(agent_id__in=ids).used_capacity()
    skills: dict = {}
    for membership_id, name, level in AgentSkill.objects.filter(membership_id__in=ids).values_list(
        "membership_id", "skill__name", "level"
    ):
        skills.setdefault(membership_id, {})[name] = level
    for row in rows:
        row["used"] = used.get(row["membership_id"], {})
        row["skills"] = skills.get(row["membership_id"], {})
    return rows


def _candidates(rows: list[dict], channel_type: str) -> list[Candidate]:
    """The rows' agents with room for `channel_type` (a call may block messaging)."""
    out = []
    for row in rows:
        agent_used = row["used"]
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
                skills=row["skills"],
                idle_since=row["last_work_ended_at"] or row["status_since"],
                last_offered_at=row["last_offered_at"],
            )
        )
    return out


def platform_candidates(*, work_item: WorkItem, now: datetime | None = None) -> list[Candidate]:
    """Who could take this work item now (a fresh snapshot)."""
    snapshot = candidate_snapshot(
        tenant_id=work_item.tenant_id, channel_type=work_item.channel_type, queue=work_item.queue
    )
    return eligible(work_item=work_item, snapshot=snapshot, now=now)
