"""Reads of voice calls, always through the partner or the tenant that may see them."""

from __future__ import annotations

from django.db.models import QuerySet

from ccp.core.ids import parse_id
from ccp.packages.models import Partner
from tenants.models import Membership, Tenant
from tenants.selectors import partner_tenant_ids

from .call_states import LIVE
from .errors import CallNotFound
from .models import Call, TranscriptSegment


def access_call_for_partner(*, partner: Partner, call_id: str) -> Call:
    """The partner's call by its call key, in a tenant that still has its package installed."""
    found = (
        Call.objects.select_related("conversation", "tenant", "partner")
        .filter(partner=partner, call_id=str(call_id)[:200], tenant_id__in=partner_tenant_ids(partner=partner))
        .first()
    )
    if found is None:
        raise CallNotFound()
    return found


def access_call(*, tenant: Tenant, call_id: str) -> Call:
    """The tenant's call by the partner's call key (or ccp's call id) or CallNotFound."""
    query = Call.objects.select_related("conversation", "tenant", "partner").filter(tenant=tenant)
    found = query.filter(call_id=str(call_id)[:200]).order_by("-queued_at").first()
    if found is None:
        found = query.filter(pk=parse_id(call_id)).first()
    if found is None:
        raise CallNotFound()
    return found


def agent_calls(*, agent: Membership, limit: int = 5) -> list[Call]:
    """The agent's live calls and their most recent ended ones (the workspace's call panel)."""
    live = list(Call.objects.filter(tenant_id=agent.tenant_id, agent=agent, status__in=LIVE).order_by("-queued_at"))
    ended = list(
        Call.objects.filter(tenant_id=agent.tenant_id, agent=agent)
        .exclude(status__in=LIVE)
        .order_by("-queued_at")[:limit]
    )
    return live + ended


def call_transcript(*, call: Call) -> QuerySet[TranscriptSegment]:
    return TranscriptSegment.objects.filter(call=call).order_by("start_ms", "id")
