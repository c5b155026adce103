"""What agents and partners do to a held conversation: accept, decline, reply, type, transfer
(FIG 14), and partner-owned routing."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ccp.core.errors import Conflict, Invalid
from ccp.packages.choices import Owner
from ccp.packages.models import Partner
from routing import services as routing
from routing.choices import WorkItemStatus
from routing.errors import AlreadyOffered, NotRoutingOwner, OfferExpired
from routing.models import AgentWork, Queue, WorkItem
from routing.selectors import (
    access_agent,
    access_queue,
    offered_work,
    pending_transfer_item,
    presence_for,
)
from tenants.models import Membership

from ..choices import (
    ConversationStatus,
    SenderType,
)
from ..errors import (
    AgentOffline,
    ConversationClosed,
    NotAParticipant,
)
from ..models import Conversation, Message, Participant
from ..selectors import access_agent_for_partner
from .call_records import call_offer_accepted
from .inputs import attachments_clean, reply_problems
from .lifecycle import (
    conversation_lock,
    open_session,
    participant_require,
    routing_attributes,
    session_conversation_lock,
    session_open_item,
    system_message,
)
from .outbound import outbound_send
from .payloads import active_agent_ids, conversation_data, conversation_publish
from .supervision import is_barged_in


def route_by_partner(
    *, partner: Partner, conversation: Conversation, agent_id=None, queue: str | None = None, routing_request_id=None
) -> AgentWork | WorkItem:
    with transaction.atomic():
        conversation = conversation_lock(conversation)
        if not conversation.is_open:
            raise ConversationClosed()
        session = open_session(conversation)
        pending_transfer = pending_transfer_item(
            tenant_id=conversation.tenant_id, reference=str(session.id), statuses=(WorkItemStatus.QUEUED,)
        )
        item = pending_transfer or session_open_item(session)
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


def agent_work_accept(*, agent: Membership, work: AgentWork) -> Conversation:
    """Accept an offer: the agent joins the conversation; after a transfer the previous agent leaves."""
    with transaction.atomic():
        session, conversation = session_conversation_lock(work)
        if session is None:
            raise OfferExpired()
        if not conversation.is_open:
            raise OfferExpired("The conversation was closed before you accepted.")
        work = routing.work_accept(work=work)
        previous = (  # who leaves: only a transfer has anyone to hand over from
            list(
                Participant.objects.filter(conversation=conversation, left_at__isnull=True)
                .exclude(agent=agent)
                .select_related("agent", "work")
            )
            if work.work_item.is_transfer
            else []
        )
        Participant.objects.create(tenant_id=conversation.tenant_id, conversation=conversation, agent=agent, work=work)
        conversation.status = ConversationStatus.ACTIVE  # saved with the system message's sequence number below
        if work.work_item.is_transfer and previous:
            now = timezone.now()
            for participant in previous:
                participant.left_at = now
                participant.leave_reason = "transferred"
                participant.save(update_fields=["left_at", "leave_reason"])
                if participant.work is not None:
                    routing.work_release_for_transfer(work=participant.work)
            names = ", ".join(p.agent.name for p in previous)
            system_message(
                conversation,
                f"Transferred from {names} to {agent.name}.",
                [agent.pk, *[p.agent_id for p in previous]],
                also_save=("status",),
            )
            conversation_publish(
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
            system_message(conversation, f"{agent.name} joined.", [agent.pk], also_save=("status",))
        call_offer_accepted(conversation, agent)
        return conversation


def agent_work_decline(*, work: AgentWork, reason: str = "") -> AgentWork:
    with transaction.atomic():
        return routing.work_decline(work=work, reason=reason)


def message_send(*, agent: Membership, conversation: Conversation, text: str, attachments=None) -> Message:
    """An agent's reply: stored, then published to the partner as the package's outbound event type."""
    problems: dict[str, list[str]] = {}
    codes: list[str] = []
    for problem in reply_problems(text=text, attachments=attachments):
        if problem.path == "":  # nothing to send (reported only when the text itself is fine)
            if "text" not in problems:
                problems["text"] = ["write something or attach a file"]
                codes.append("empty_message")
            continue
        problems[problem.path] = [problem.sentence]
        codes.append(problem.code)
    if problems:
        raise Invalid("The message cannot be sent; see details.", code=codes[0], details=problems)
    clean_attachments = attachments_clean(attachments)
    with transaction.atomic():
        conversation = conversation_lock(conversation)
        if not conversation.is_open:
            raise ConversationClosed()
        agents = active_agent_ids(conversation)
        if agent.pk not in agents:
            raise NotAParticipant()
        # a supervisor who barged in is labelled as such to the end user, and needs no presence
        barged = is_barged_in(membership=agent, conversation=conversation)
        if not barged and presence_for(membership=agent).status == "offline":
            raise AgentOffline()
        return outbound_send(
            conversation,
            text=text,
            sender_type=SenderType.AGENT,
            sender_name=f"{agent.name} (supervisor)" if barged else agent.name,
            agent=agent,
            attachments=clean_attachments,
            agents=agents,
        )


def agent_typing(*, agent: Membership, conversation: Conversation, typing: bool) -> None:
    with transaction.atomic():
        participant_require(conversation, agent)
        conversation_publish(
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
        conversation = conversation_lock(conversation)
        if not conversation.is_open:
            raise ConversationClosed()
        participant_require(conversation, agent)
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
                    **routing_attributes(conversation),
                    "transfer_from": str(agent.pk),
                    "transfer_from_name": agent.name,
                },
                is_transfer=True,
                excluded_agents=[agent.pk],
            )
            if target is None
            else _direct_transfer_item(conversation, session, agent, target)
        )
        system_message(conversation, _transfer_note(agent, target, queue_obj, owner), active_agent_ids(conversation))
        work = offered_work(work_item=item)
        return {"work_item_id": str(item.id), "status": item.status, "work_id": str(work.id) if work else None}


def _direct_transfer_item(conversation, session, agent, target) -> WorkItem:
    item, _work = routing.work_item_offer_direct(
        tenant=conversation.tenant,
        reference=str(session.id),
        agent_id=target.pk,
        channel_type=conversation.channel.channel_type if conversation.channel else "messaging",
        partner=conversation.partner,
        attributes={
            **routing_attributes(conversation),
            "transfer_from": str(agent.pk),
            "transfer_from_name": agent.name,
        },
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
    system_message(conversation, f"{agent.name} transferred the conversation to {bot}.", [agent.pk])
    conversation_publish(
        conversation,
        "conversation.transferred",
        {**conversation_data(conversation), "from_agent_ids": [str(agent.pk)], "to_bot": bot},
        agents=[agent.pk],
    )
    return {"work_item_id": None, "status": "bot", "work_id": None}
