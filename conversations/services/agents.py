"""What agents and partners do to a conversation: accept, decline, reply, type, close, transfer
(FIG 14), partner-owned routing, and agent-initiated outbound (FIG 15)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ccp.core.errors import Conflict, Invalid, NotFound
from ccp.packages.choices import Owner
from ccp.packages.models import Partner
from routing import services as routing
from routing.choices import WorkItemStatus
from routing.errors import AlreadyOffered, NotRoutingOwner, OfferExpired
from routing.models import AgentWork, Queue, WorkItem
from routing.selectors import access_agent, access_queue, offered_work, pending_transfer_item, presence_for
from tenants.models import Channel, Membership

from ..choices import (
    ConversationStatus,
    SenderType,
)
from ..errors import (
    AgentOffline,
    ChannelInactive,
    ConversationClosed,
    InstallationInactive,
    NotAParticipant,
)
from ..models import Conversation, Message, Participant
from ..selectors import access_agent_for_partner
from .common import (
    _attachment_problems,
    _attributes,
    _close_locked,
    _lock_conversation,
    _open_item,
    _outbound,
    _publish,
    _require_participant,
    _session_of,
    _system_to,
    active_agent_ids,
    conversation_data,
    open_session,
)
from .interactions import _get_or_create_address, _open_conversation


def route_by_partner(
    *, partner: Partner, conversation: Conversation, agent_id=None, queue: str | None = None, routing_request_id=None
) -> AgentWork | WorkItem:
    with transaction.atomic():
        conversation = _lock_conversation(conversation)
        if not conversation.is_open:
            raise ConversationClosed()
        session = open_session(conversation)
        pending_transfer = pending_transfer_item(
            tenant_id=conversation.tenant_id, reference=str(session.id), statuses=(WorkItemStatus.QUEUED,)
        )
        item = pending_transfer or _open_item(session)
        if item is None:
            if conversation.routing_owner != Owner.PARTNER:
                raise NotRoutingOwner()
            raise AlreadyOffered("This conversation is already held by an agent.")
        agent = (
            access_agent_for_partner(partner=partner, agent_id=agent_id, tenant=conversation.tenant)
            if agent_id
            else None
        )
        queue_obj: Queue | None = access_queue(tenant=conversation.tenant, name=queue) if queue else None
        work = routing.partner_route(
            work_item=item, agent=agent, queue=queue_obj, routing_request_id=routing_request_id
        )
        return work if work is not None else item


def conversation_close(*, conversation: Conversation, closed_by: str, agent: Membership | None = None) -> Conversation:
    """Close the conversation and its session; agents' work ends (into ACW when the channel has it)."""
    with transaction.atomic():
        conversation = _lock_conversation(conversation)
        if not conversation.is_open:
            raise ConversationClosed()
        if agent is not None and agent.pk not in active_agent_ids(conversation):
            raise NotAParticipant()
        _close_locked(conversation, closed_by=closed_by, agent=agent)
        return conversation


def agent_work_accept(*, agent: Membership, work: AgentWork) -> Conversation:
    """Accept an offer: the agent joins the conversation; after a transfer the previous agent leaves."""
    with transaction.atomic():
        session = _session_of(work)
        if session is None:
            raise OfferExpired()
        conversation = _lock_conversation(session.conversation)
        if not conversation.is_open:
            raise OfferExpired("The conversation was closed before you accepted.")
        work = routing.work_accept(work=work)
        previous = list(
            Participant.objects.filter(conversation=conversation, left_at__isnull=True)
            .exclude(agent=agent)
            .select_related("agent", "work")
        )
        Participant.objects.create(tenant_id=conversation.tenant_id, conversation=conversation, agent=agent, work=work)
        conversation.status = ConversationStatus.ACTIVE
        conversation.save(update_fields=["status", "updated_at"])
        if work.work_item.is_transfer and previous:
            now = timezone.now()
            for participant in previous:
                participant.left_at = now
                participant.leave_reason = "transferred"
                participant.save(update_fields=["left_at", "leave_reason"])
                if participant.work is not None:
                    routing.work_release_for_transfer(work=participant.work)
            names = ", ".join(p.agent.name for p in previous)
            _system_to(
                conversation, f"Transferred from {names} to {agent.name}.", [agent.pk, *[p.agent_id for p in previous]]
            )
            _publish(
                conversation,
                "conversation.transferred",
                {
                    **conversation_data(conversation),
                    "from_agent_ids": [str(p.agent_id) for p in previous],
                    "to_agent_id": str(agent.pk),
                },
                agents=[agent.pk, *[p.agent_id for p in previous]],
            )
        else:
            _system_to(conversation, f"{agent.name} joined.", [agent.pk])
        return conversation


def agent_work_decline(*, work: AgentWork, reason: str = "") -> AgentWork:
    with transaction.atomic():
        return routing.work_decline(work=work, reason=reason)


def message_send(*, agent: Membership, conversation: Conversation, text: str, attachments=None) -> Message:
    """An agent's reply: stored, then published to the partner as the package's outbound event type."""
    problems: dict[str, list[str]] = {}
    codes: list[str] = []
    clean_attachments = _attachment_problems(attachments, "attachments", problems, codes)
    if not isinstance(text, str) or len(text) > settings.MESSAGE_MAX_CHARS:
        problems["text"] = [f"must be text of at most {settings.MESSAGE_MAX_CHARS} characters"]
        codes.append("invalid")
    elif not text.strip() and not clean_attachments:
        problems["text"] = ["write something or attach a file"]
        codes.append("empty_message")
    if problems:
        raise Invalid("The message cannot be sent; see details.", code=codes[0], details=problems)
    with transaction.atomic():
        conversation = _lock_conversation(conversation)
        if not conversation.is_open:
            raise ConversationClosed()
        agents = active_agent_ids(conversation)
        if agent.pk not in agents:
            raise NotAParticipant()
        if presence_for(membership=agent).status == "offline":
            raise AgentOffline()
        return _outbound(
            conversation,
            text=text,
            sender_type=SenderType.AGENT,
            sender_name=agent.name,
            agent=agent,
            attachments=clean_attachments,
            agents=agents,
        )


def agent_typing(*, agent: Membership, conversation: Conversation, typing: bool) -> None:
    with transaction.atomic():
        _require_participant(conversation, agent)
        _publish(
            conversation,
            "typing.started" if typing else "typing.stopped",
            {**conversation_data(conversation), "who": "agent", "agent_id": str(agent.pk)},
            agents=[],
        )


def conversation_transfer(
    *, agent: Membership, conversation: Conversation, to_agent_id=None, queue: str | None = None, bot: str | None = None
) -> dict:
    """Transfer (FIG 14) to an agent, a queue or a bot. The first agent stays until the second accepts."""
    if sum(x is not None and x != "" for x in (to_agent_id, queue, bot)) != 1:
        raise Invalid(
            "Give exactly one of agent_id, queue or bot.",
            code="invalid",
            details={"agent_id": ["give exactly one of agent_id, queue, bot"]},
        )
    with transaction.atomic():
        conversation = _lock_conversation(conversation)
        if not conversation.is_open:
            raise ConversationClosed()
        _require_participant(conversation, agent)
        session = open_session(conversation)
        pending = pending_transfer_item(tenant_id=conversation.tenant_id, reference=str(session.id))
        if pending is not None:
            raise Conflict("A transfer of this conversation is already under way.", code="transfer_in_progress")
        if bot:
            return _transfer_to_bot(conversation, session, agent, bot)
        target = access_agent(tenant=conversation.tenant, agent_id=to_agent_id) if to_agent_id else None
        if target is not None and target.pk == agent.pk:
            raise Invalid("You already hold this conversation.", code="invalid", details={"agent_id": ["is you"]})
        queue_obj = access_queue(tenant=conversation.tenant, name=queue) if queue else None
        owner = conversation.routing_owner if target is None else Owner.PLATFORM
        item = (
            routing.work_item_create(
                tenant=conversation.tenant,
                reference=str(session.id),
                channel_type=conversation.channel.channel_type if conversation.channel else "messaging",
                routing_owner=owner,
                partner=conversation.partner,
                queue=queue_obj,
                attributes={
                    **_attributes(conversation),
                    "transfer_from": str(agent.pk),
                    "transfer_from_name": agent.name,
                },
                is_transfer=True,
                excluded_agents=[agent.pk],
            )
            if target is None
            else _direct_transfer_item(conversation, session, agent, target)
        )
        _system_to(conversation, _transfer_note(agent, target, queue_obj, owner), active_agent_ids(conversation))
        work = offered_work(work_item=item)
        return {"work_item_id": str(item.id), "status": item.status, "work_id": str(work.id) if work else None}


def _direct_transfer_item(conversation, session, agent, target) -> WorkItem:
    item, _work = routing.work_item_offer_direct(
        tenant=conversation.tenant,
        reference=str(session.id),
        agent_id=target.pk,
        channel_type=conversation.channel.channel_type if conversation.channel else "messaging",
        partner=conversation.partner,
        attributes={**_attributes(conversation), "transfer_from": str(agent.pk), "transfer_from_name": agent.name},
        is_transfer=True,
    )
    return item


def _transfer_note(agent, target, queue, owner) -> str:
    if target is not None:
        return f"{agent.name} is transferring to {target.name}."
    if queue is not None:
        return f"{agent.name} is transferring to the {queue.name} queue."
    if owner == Owner.PARTNER:
        return f"{agent.name} asked the partner's routing for another agent."
    return f"{agent.name} is transferring to another agent."


def _transfer_to_bot(conversation, session, agent, bot: str) -> dict:
    now = timezone.now()
    for participant in Participant.objects.filter(conversation=conversation, left_at__isnull=True).select_related(
        "work"
    ):
        participant.left_at = now
        participant.leave_reason = "transferred to bot"
        participant.save(update_fields=["left_at", "leave_reason"])
        if participant.work is not None:
            routing.work_release_for_transfer(work=participant.work)
    session.flow_state = {**session.flow_state, "handed_off": False}
    session.save(update_fields=["flow_state"])
    conversation.status = ConversationStatus.BOT
    conversation.save(update_fields=["status", "updated_at"])
    _system_to(conversation, f"{agent.name} transferred the conversation to {bot}.", [agent.pk])
    _publish(
        conversation,
        "conversation.transferred",
        {**conversation_data(conversation), "from_agent_ids": [str(agent.pk)], "to_bot": bot},
        agents=[agent.pk],
    )
    return {"work_item_id": None, "status": "bot", "work_id": None}


# --- agent-initiated outbound (FIG 15) -----------------------------------------------------------


def conversation_start_outbound(*, agent: Membership, channel_address_id: str, address: str, text: str) -> Message:
    """An agent starts a conversation with an end user: consent first (in `_outbound`), then the
    conversation (initiated by the agent, who holds it with capacity), the message, and its publication.

    Refused consent raises ConsentDenied and the transaction rolls back: nothing is stored or sent.
    """
    problems = {}
    if not isinstance(text, str) or not text.strip() or len(text) > settings.MESSAGE_MAX_CHARS:
        problems["text"] = [f"write 1 to {settings.MESSAGE_MAX_CHARS} characters"]
    if not isinstance(address, str) or not 0 < len(address.strip()) <= 300:
        problems["address"] = ["is required: the end user's address on the channel"]
    if problems:
        raise Invalid("The message cannot be sent; see details.", details=problems)
    address = address.strip()
    channel = (
        Channel.objects.select_related("installation__package__channel_definition", "tenant")
        .filter(tenant=agent.tenant, channel_address_id=channel_address_id)
        .first()
    )
    if channel is None:
        raise NotFound(f"'{channel_address_id}' is not a channel of your tenant.", code="unknown_channel")
    if channel.installation_id and not channel.installation.is_active:
        raise InstallationInactive()
    if not channel.is_active:
        raise ChannelInactive()
    with transaction.atomic():
        if presence_for(membership=agent).status == "offline":
            raise AgentOffline()
        end_user = _get_or_create_address(channel, address, "")
        conversation, created = _open_conversation(channel, end_user, SenderType.AGENT)
        if not created:
            raise Conflict(
                "This end user already has an open conversation on this channel; continue it there.",
                code="conversation_open",
                details={"conversation_id": str(conversation.id)},
            )
        session = open_session(conversation)
        _item, offer = routing.work_item_offer_direct(
            tenant=conversation.tenant,
            reference=str(session.id),
            agent_id=agent.pk,
            channel_type=channel.channel_type,
            partner=conversation.partner,
            attributes={**_attributes(conversation), "outbound": True},
        )
        work = routing.work_accept(work=offer)
        Participant.objects.create(tenant_id=conversation.tenant_id, conversation=conversation, agent=agent, work=work)
        conversation.status = ConversationStatus.ACTIVE
        conversation.save(update_fields=["status", "updated_at"])
        _publish(conversation, "conversation.created", {**conversation_data(conversation), "initiated_by": "agent"})
        return _outbound(conversation, text=text, sender_type=SenderType.AGENT, sender_name=agent.name, agent=agent)
