"""Reads of conversations, always through the partner or the tenant that may see them."""

from __future__ import annotations

import logging

from django.db.models import Prefetch, Q, QuerySet

from ccp.core.ids import parse_id
from ccp.packages.models import Partner
from routing.errors import AgentNotFound
from routing.models import AgentWork
from tenants.choices import Role
from tenants.models import Membership, Tenant
from tenants.selectors import partner_agents, partner_tenant_ids

from . import sql
from .errors import ConversationNotFound, NotAParticipant
from .models import Contact, Conversation, Message, Participant, Session
from .sla_selectors import sla_for_conversations


def access_conversation_for_partner(*, partner: Partner, conversation_id) -> Conversation:
    """A conversation on a channel of this partner's packages, in a tenant that still has one of them
    installed (active or not): after the uninstall the partner's access ends. Anything else is NotFound."""
    found = (
        Conversation.objects.select_related("channel__installation", "tenant", "partner", "contact")
        .filter(pk=parse_id(conversation_id), partner=partner, tenant_id__in=partner_tenant_ids(partner=partner))
        .first()
    )
    if found is None:
        raise ConversationNotFound()
    return found


def access_conversation(*, tenant: Tenant, conversation_id, related: bool = True) -> Conversation:
    """The tenant's conversation or NotFound. `related=False`: only its id and tenant, for a caller
    whose service locks and re-reads it anyway (the agent's message send)."""
    if not related and sql.fast_path():
        found = sql.conversation_id_of_tenant(parse_id(conversation_id), tenant.pk)
    else:
        query = Conversation.objects.filter(pk=parse_id(conversation_id), tenant=tenant)
        query = (
            query.select_related("channel", "tenant", "partner", "contact") if related else query.only("id", "tenant")
        )
        found = query.first()
    if found is None:
        raise ConversationNotFound()
    return found


audit_log = logging.getLogger("ccp.audit")


def access_conversation_as_member(
    *, membership: Membership, conversation_id, action: str, related: bool = True
) -> Conversation:
    """The tenant's conversation for one of its people: an agent must be or have been a participant
    (else NotAParticipant); a supervisor or tenant admin may read any, and each such read by someone
    who is not a participant is recorded on the `ccp.audit` logger (`action` says what was done)."""
    conversation = access_conversation(tenant=membership.tenant, conversation_id=conversation_id, related=related)
    if Participant.objects.filter(conversation=conversation, agent=membership).exists():
        return conversation
    if membership.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise NotAParticipant()
    audit_log.info(
        "%s %s read conversation %s (%s) without being a participant",
        membership.role,
        membership.pk,
        conversation.pk,
        action,
        extra={
            "audit": "conversation_access",
            "tenant_id": str(membership.tenant_id),
            "membership_id": str(membership.pk),
            "role": membership.role,
            "conversation_id": str(conversation.pk),
            "action": action,
        },
    )
    return conversation


def contact_directory(*, tenant: Tenant, q: str = "", limit: int) -> QuerySet[Contact]:
    """The tenant's contacts not erased, newest first (or matching `q` by name or address), with their
    addresses and their conversations (newest first, with the channel) prefetched: three queries."""
    contacts = Contact.objects.filter(tenant=tenant, erased_at__isnull=True)
    if q:
        contacts = contacts.filter(Q(name__icontains=q) | Q(addresses__address__icontains=q)).distinct()
    return contacts.order_by("-updated_at").prefetch_related(
        "addresses",
        Prefetch(
            "conversations",
            queryset=Conversation.objects.filter(tenant=tenant).select_related("channel").order_by("-created_at"),
        ),
    )[:limit]


def conversation_messages(*, conversation: Conversation, after=None, limit: int = 200) -> QuerySet[Message]:
    """Entries oldest first; `after` is a message id (its seq is the cursor)."""
    messages = Message.objects.filter(conversation=conversation).order_by("seq")
    if after:
        anchor = (
            Message.objects.filter(conversation=conversation, pk=parse_id(after)).values_list("seq", flat=True).first()
        )
        if anchor is None:
            raise ConversationNotFound("No such message in this conversation.", code="message_not_found")
        messages = messages.filter(seq__gt=anchor)
    return messages[:limit]


def conversation_detail(*, conversation: Conversation) -> dict:
    """Status, end user, session, participants and work (open and past) — what a partner or agent reads."""
    if sql.fast_path():  # sessions, participants and work in one statement
        sessions, participants, works = _detail_parts_sql(conversation)
    else:
        sessions, participants, works = _detail_parts_orm(conversation)
    return {
        "id": str(conversation.id),
        "tenant": conversation.tenant.slug,
        "status": conversation.status,
        "channel_address_id": conversation.channel_address_id,
        "end_user": conversation.end_user_address,
        "contact": {"id": str(conversation.contact_id), "name": conversation.contact.name},
        "routing_owner": conversation.routing_owner,
        "subject": conversation.subject,
        "thread": conversation.thread_key,
        "initiated_by": conversation.initiated_by,
        "session_id": sessions[0] if sessions else None,
        "participants": participants,
        "work": works,
        "created_at": conversation.created_at,
        "last_message_at": conversation.last_message_at,
        "closed_at": conversation.closed_at,
        "sla": sla_for_conversations(conversation_ids=[conversation.id]).get(str(conversation.id)),
    }


def _detail_parts_sql(conversation: Conversation) -> tuple[list[str], list[dict], list[dict]]:
    sessions, participant_rows, work_rows = sql.conversation_detail_parts(conversation)
    participants = []
    for row in participant_rows:
        full_name = f"{row['first_name']} {row['last_name']}".strip()  # what Membership.name reads
        participants.append(
            {
                "agent_id": row["agent_id"],
                "name": row["display_name"] or full_name or row["username"],
                "joined_at": row["joined_at"],
                "left_at": row["left_at"],
                "leave_reason": row["leave_reason"],
            }
        )
    return sessions, participants, work_rows


def _detail_parts_orm(conversation: Conversation) -> tuple[list[str], list[dict], list[dict]]:
    """The session ids (newest first), participants and work of `conversation`: three queries."""
    # every session id, newest first (one query): the current session and the work of all of them
    newest_first = Session.objects.filter(conversation=conversation).order_by("-started_at", "-pk")
    sessions = [str(s) for s in newest_first.values_list("id", flat=True)]
    participants = [
        {
            "agent_id": str(p.agent_id),
            "name": p.agent.name,
            "joined_at": p.joined_at,
            "left_at": p.left_at,
            "leave_reason": p.leave_reason,
        }
        for p in Participant.objects.filter(conversation=conversation)
        .select_related("agent__user")
        .order_by("joined_at", "pk")
    ]
    works = [
        {
            "work_id": str(w.id),
            "agent_id": str(w.agent_id),
            "status": w.status,
            "engine": w.engine,
            "offered_at": w.offered_at,
            "expires_at": w.expires_at,
            "answered_at": w.answered_at,
            "closed_at": w.closed_at,
            "acw_ends_at": w.acw_ends_at,
            "ended_at": w.ended_at,
            "is_transfer": w.work_item.is_transfer,
        }
        for w in AgentWork.objects.filter(work_item__reference__in=sessions, tenant_id=conversation.tenant_id)
        .select_related("work_item")
        .order_by("offered_at", "pk")
    ]
    return sessions, participants, works


def agent_conversations(*, agent: Membership) -> QuerySet[Conversation]:
    """Conversations the agent holds now."""
    return (
        Conversation.objects.filter(participants__agent=agent, participants__left_at__isnull=True)
        .select_related("channel", "contact")
        .order_by("-last_message_at")
        .distinct()
    )


def access_agent_for_partner(*, partner: Partner, agent_id, tenant: Tenant | None = None) -> Membership:
    """An agent the partner may see (`tenants.selectors.partner_agents`), of `tenant` when given; anyone
    else — another partner's agent, a tenant admin, another tenant's member — is AgentNotFound."""
    agents = partner_agents(partner=partner)
    if tenant is not None:
        agents = agents.filter(tenant=tenant)
    membership = agents.filter(pk=parse_id(agent_id)).select_related("tenant", "user").first()
    if membership is None:
        raise AgentNotFound()
    return membership
