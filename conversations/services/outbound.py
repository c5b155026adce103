"""THE outbound path to the end user (`outbound_send`, where consent is enforced, FIG 15 1512,
FIG 16B), and an agent starting a conversation (FIG 15). Builds on `lifecycle` and `payloads`."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ccp.core.errors import Conflict, Invalid, NotFound
from consent import services as consent
from consent.errors import ConsentDenied
from routing import services as routing
from routing.selectors import (
    presence_for,
)
from tenants.models import Channel, Membership

from ..choices import (
    ConversationStatus,
    Direction,
    MessageStatus,
    SenderType,
)
from ..errors import (
    AgentOffline,
    ChannelInactive,
    InstallationInactive,
)
from ..models import Conversation, Message, Participant
from .lifecycle import (
    conversation_open,
    end_user_address_get_or_create,
    message_append_publish,
    open_session,
    routing_attributes,
)
from .payloads import active_agent_ids, conversation_data, conversation_publish
from .sla import sla_agent_replied


def _end_user_wrote(conversation: Conversation) -> bool:
    """Implicit consent: the end user started this conversation or has written in it."""
    return (
        conversation.initiated_by == SenderType.END_USER
        or conversation.messages.filter(direction=Direction.INBOUND).exists()
    )


def outbound_consent_require(conversation: Conversation, *, sender_type: str, consent_reply: bool = False) -> bool:
    """THE consent gate of everything that reaches out to an end user: an outbound message, an
    agent's call (FIG 15 1512, FIG 16B). Holds the consent row's lock until the caller commits.
    Refused for an agent: ConsentDenied with the reason in words; for an automatic sender: False."""
    decision = consent.consent_check_outbound(
        channel=conversation.channel,
        address=conversation.end_user_address,
        end_user_wrote=_end_user_wrote(conversation),
        confirmation=consent_reply,
    )
    if not decision.allowed:
        if sender_type == SenderType.AGENT:
            raise ConsentDenied(decision.reason, details={"status": decision.status, "owner": decision.owner})
        return False
    return True


def outbound_send(
    conversation: Conversation,
    *,
    text: str,
    sender_type: str,
    sender_name: str = "",
    agent=None,
    attachments=None,
    consent_reply: bool = False,
    agents=None,
) -> Message | None:
    """Store an outbound message and publish it to the partner (the one outbound path).

    Consent is checked here, and only here (FIG 15 1512, FIG 16B), holding the consent row's lock
    until this transaction commits: an agent's message that may not go raises ConsentDenied (nothing
    is stored); an automatic one (greeting, bot, business hours) is dropped and None returned.
    `consent_reply`: the one confirmation of a STOP/START keyword, allowed even after an opt-out.
    `agents`: the participants' ids when the caller has just read them under the lock.
    """
    if not outbound_consent_require(conversation, sender_type=sender_type, consent_reply=consent_reply):
        return None
    message = message_append_publish(
        conversation,
        agents=active_agent_ids(conversation) if agents is None else agents,
        direction=Direction.OUTBOUND,
        sender_type=sender_type,
        sender_name=sender_name,
        agent=agent,
        text=text,
        attachments=attachments or [],
        status=MessageStatus.SENT,
        status_changed_at=timezone.now(),
    )
    if message is None:  # no partner entry id: only a broken lock order could get here
        raise Conflict("The conversation changed under us; retry.", code="conflict")
    if sender_type == SenderType.AGENT:
        sla_agent_replied(conversation, at=message.created_at)
    return message


def outbound_channel(*, agent: Membership, channel_address_id: str) -> Channel:
    """The tenant's channel an agent starts a conversation (or places a call) on: 404 `unknown_channel`,
    refused while its installation or the channel itself is inactive."""
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
    return channel


def outbound_conversation_open(*, agent: Membership, channel: Channel, address: str, on: str = "channel"):
    """In the caller's transaction: a new agent-initiated conversation with the end user. The agent must
    not be offline; 409 `conversation_open` when the end user already has one open on the channel
    (`on` names it in the sentence: "channel", "call center")."""
    if presence_for(membership=agent).status == "offline":
        raise AgentOffline()
    end_user = end_user_address_get_or_create(channel, address, "")
    conversation, created = conversation_open(channel, end_user, SenderType.AGENT)
    if not created:
        raise Conflict(
            f"This end user already has an open conversation on this {on}; continue it there.",
            code="conversation_open",
            details={"conversation_id": str(conversation.id)},
        )
    return conversation


def conversation_start_outbound(*, agent: Membership, channel_address_id: str, address: str, text: str) -> Message:
    """An agent starts a conversation with an end user: consent first (in `outbound_send`), then the
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
    channel = outbound_channel(agent=agent, channel_address_id=channel_address_id)
    with transaction.atomic():
        conversation = outbound_conversation_open(agent=agent, channel=channel, address=address)
        session = open_session(conversation)
        _item, offer = routing.work_item_offer_direct(
            tenant=conversation.tenant,
            reference=str(session.id),
            agent_id=agent.pk,
            channel_type=channel.channel_type,
            partner=conversation.partner,
            attributes={**routing_attributes(conversation), "outbound": True},
        )
        work = routing.work_accept(work=offer)
        Participant.objects.create(tenant_id=conversation.tenant_id, conversation=conversation, agent=agent, work=work)
        conversation.status = ConversationStatus.ACTIVE
        conversation.save(update_fields=["status", "updated_at"])
        conversation_publish(
            conversation, "conversation.created", {**conversation_data(conversation), "initiated_by": "agent"}
        )
        return outbound_send(conversation, text=text, sender_type=SenderType.AGENT, sender_name=agent.name, agent=agent)
