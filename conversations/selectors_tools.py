"""Reads for the supervisor and agent tools: the live supervision list, canned responses, and the
full-text search over the conversations and messages a member may see."""

from __future__ import annotations

from django.db import connection
from django.db.models import BooleanField, FloatField, Max, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from ccp.core.ids import parse_id
from routing.choices import WorkItemStatus
from routing.models import WorkItem
from tenants.choices import Role
from tenants.models import Membership, Tenant

from .call_states import CallStatus
from .choices import OPEN_STATUSES, ConversationStatus, Direction
from .errors import CannedResponseNotFound
from .models import Call, CannedResponse, Conversation, Message, Participant, Session
from .sla_selectors import sla_for_conversations

# --- supervision ----------------------------------------------------------------------------------


def supervision_conversations(*, tenant: Tenant, limit: int = 500) -> list[dict]:
    """Every live conversation of the tenant, longest waiting first: its agents, and how long the end
    user has been waiting — for an agent (routing), or for a reply (the newest message is theirs)."""
    now = timezone.now()
    conversations = list(
        Conversation.objects.filter(tenant=tenant, status__in=OPEN_STATUSES)
        .select_related("channel", "contact")
        .annotate(
            last_in=Max("messages__created_at", filter=Q(messages__direction=Direction.INBOUND)),
            last_out=Max("messages__created_at", filter=Q(messages__direction=Direction.OUTBOUND)),
        )
        .order_by("created_at")[:limit]
    )
    ids = [c.pk for c in conversations]
    agents: dict = {}
    for p in (
        Participant.objects.filter(conversation_id__in=ids, left_at__isnull=True)
        .select_related("agent__user")
        .order_by("joined_at")
    ):
        agents.setdefault(p.conversation_id, []).append(
            {"agent_id": str(p.agent_id), "name": p.agent.name, "role": p.agent.role, "barged_in": p.work_id is None}
        )
    sessions = dict(Session.objects.filter(conversation_id__in=ids, is_open=True).values_list("id", "conversation_id"))
    enqueued: dict = {}
    for reference, at, queue in WorkItem.objects.filter(
        tenant=tenant,
        reference__in=[str(s) for s in sessions],
        status__in=(WorkItemStatus.QUEUED, WorkItemStatus.OFFERED),
    ).values_list("reference", "enqueued_at", "queue__name"):
        conversation_id = sessions.get(parse_id(reference))
        if conversation_id is not None:
            enqueued[conversation_id] = (
                min(at, enqueued[conversation_id][0]) if conversation_id in enqueued else at,
                queue,
            )
    slas = sla_for_conversations(conversation_ids=[c.pk for c in conversations], now=now)
    calls = {}  # the conversation's live call (the newest), if any
    for call in Call.objects.filter(conversation_id__in=ids).exclude(status=CallStatus.ENDED).order_by("queued_at"):
        calls[call.conversation_id] = {
            "call_id": call.call_id,
            "status": call.status,
            "direction": call.direction,
            "agent_id": str(call.agent_id) if call.agent_id else None,
            "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        }
    rows = []
    for c in conversations:
        waiting_since = None
        if c.status == ConversationStatus.ROUTING:
            waiting_since = enqueued.get(c.pk, (c.created_at, None))[0]
        elif c.last_in and (c.last_out is None or c.last_in > c.last_out):
            waiting_since = c.last_in
        rows.append(
            {
                "id": str(c.pk),
                "status": c.status,
                "channel_address_id": c.channel_address_id,
                "channel_name": c.channel.name if c.channel else c.channel_address_id,
                "channel_type": c.channel.channel_type if c.channel else "messaging",
                "contact_name": c.contact.name or c.end_user_address,
                "end_user": c.end_user_address,
                "queue": enqueued.get(c.pk, (None, None))[1],
                "agents": agents.get(c.pk, []),
                "started_at": c.created_at,
                "last_message_at": c.last_message_at,
                "waiting_since": waiting_since,
                "waiting_seconds": round((now - waiting_since).total_seconds(), 1) if waiting_since else None,
                "sla": slas.get(str(c.pk)),  # the most urgent running SLA clock (sla_selectors)
                "call": calls.get(c.pk),  # its live voice call, if any
            }
        )
    rows.sort(key=lambda r: -(r["waiting_seconds"] or -1))
    return rows


# --- canned responses -----------------------------------------------------------------------------


def canned_for(*, membership: Membership, q: str = "") -> QuerySet[CannedResponse]:
    """The tenant's shared canned responses and the member's own, by shortcut (`q`: shortcut or
    title containing it)."""
    found = CannedResponse.objects.filter(tenant=membership.tenant).filter(Q(owner__isnull=True) | Q(owner=membership))
    if q:
        found = found.filter(Q(shortcut__icontains=q) | Q(title__icontains=q))
    return found.order_by("shortcut", "owner_id")


def access_canned(*, membership: Membership, canned_id) -> CannedResponse:
    found = canned_for(membership=membership).filter(pk=parse_id(canned_id)).first()
    if found is None:
        raise CannedResponseNotFound()
    return found


# --- search ---------------------------------------------------------------------------------------

# The text search configuration: 'simple' (no stemming, no stop words) suits a contact center's many
# languages. The GIN index (migration 0006_message_text_search) is on exactly this expression.
TS_CONFIG = "simple"
_VECTOR = f"to_tsvector('{TS_CONFIG}'::regconfig, conversations_message.text)"
_QUERY = f"websearch_to_tsquery('{TS_CONFIG}'::regconfig, %s)"
START, STOP = "\x02", "\x03"
_HEADLINE_OPTIONS = f"StartSel={START}, StopSel={STOP}, MaxWords=24, MinWords=10, MaxFragments=2"


def _visible_conversations(membership: Membership) -> QuerySet[Conversation]:
    if membership.role in (Role.SUPERVISOR, Role.ADMIN):
        return Conversation.objects.filter(tenant=membership.tenant)
    return Conversation.objects.filter(tenant=membership.tenant, participants__agent=membership).distinct()


def _highlighted(headline: str) -> tuple[str, list[list[int]]]:
    """A ts_headline with START/STOP markers → the plain snippet and the [start, end) of each hit."""
    text, ranges, start = [], [], None
    length = 0
    for ch in headline:
        if ch == START:
            start = length
        elif ch == STOP and start is not None:
            ranges.append([start, length])
            start = None
        else:
            text.append(ch)
            length += 1
    return "".join(text), ranges


def _plain_highlight(text: str, q: str) -> tuple[str, list[list[int]]]:
    words = [w for w in q.lower().split() if w]
    lower = text.lower()
    first = min((lower.find(w) for w in words if lower.find(w) >= 0), default=0)
    start = max(0, first - 60)
    snippet = text[start : start + 200]
    ranges = []
    low = snippet.lower()
    for w in words:
        i = low.find(w)
        while i >= 0:
            ranges.append([i, i + len(w)])
            i = low.find(w, i + len(w))
    return snippet, sorted(ranges)


def search(*, membership: Membership, q: str, limit: int = 20) -> dict:
    """Messages (ranked, with highlighted snippets) and conversations (by contact name or address)
    matching `q`, among those the member may see: an agent the conversations they took part in, a
    supervisor or admin the tenant's. PostgreSQL full-text search; icontains elsewhere (SQLite)."""
    q = q.strip()[:200]
    visible = _visible_conversations(membership)
    messages = Message.objects.filter(
        tenant=membership.tenant, direction__in=(Direction.INBOUND, Direction.OUTBOUND)
    ).select_related("conversation__contact")
    if membership.role not in (Role.SUPERVISOR, Role.ADMIN):  # the tenant's all: no narrowing (and no join)
        messages = messages.filter(conversation__in=visible.values("pk"))
    hits = []
    if connection.vendor == "postgresql":
        found = (
            # constant SQL (the indexed expression, bare in WHERE so the GIN index serves it); the
            # query text is a bound parameter
            messages.filter(RawSQL(f"{_VECTOR} @@ {_QUERY}", [q], output_field=BooleanField()))  # noqa: S611
            .annotate(
                rank=RawSQL(f"ts_rank_cd({_VECTOR}, {_QUERY})", [q], output_field=FloatField()),  # noqa: S611
                headline=RawSQL(  # noqa: S611
                    f"ts_headline('{TS_CONFIG}'::regconfig, conversations_message.text, {_QUERY}, %s)",
                    [q, _HEADLINE_OPTIONS],
                    output_field=TextField(),
                ),
            )
            .order_by("-rank", "-created_at")[:limit]
        )
        for m in found:
            snippet, ranges = _highlighted(m.headline)
            hits.append((m, snippet, ranges, round(m.rank, 4)))
    else:
        for m in messages.filter(text__icontains=q).order_by("-created_at")[:limit]:
            snippet, ranges = _plain_highlight(m.text, q)
            hits.append((m, snippet, ranges, None))
    conversations = (
        visible.filter(Q(contact__name__icontains=q) | Q(end_user_address__icontains=q))
        .select_related("contact", "channel")
        .order_by("-created_at")[:limit]
    )
    return {
        "q": q,
        "messages": [
            {
                "message_id": str(m.id),
                "conversation_id": str(m.conversation_id),
                "contact_name": m.conversation.contact.name or m.conversation.end_user_address,
                "direction": m.direction,
                "sender_name": m.sender_name,
                "created_at": m.created_at,
                "snippet": snippet,
                "highlights": ranges,
                "rank": rank,
            }
            for m, snippet, ranges, rank in hits
        ],
        "conversations": [
            {
                "conversation_id": str(c.id),
                "contact_name": c.contact.name or c.end_user_address,
                "end_user": c.end_user_address,
                "channel_address_id": c.channel_address_id,
                "status": c.status,
                "created_at": c.created_at,
            }
            for c in conversations
        ],
    }
