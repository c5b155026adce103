"""What conversations publish and what a message carries: the message and conversation payloads,
publishing to a conversation's audience (partner and current participants), the package's outbound
event type. Imports nothing else of this package."""

from __future__ import annotations

from ccp.core.local_cache import LocalTtlCache
from ccp.events.services import event_publish
from ccp.packages.models import PlatformEventType

from .. import sql
from ..choices import (
    Direction,
)
from ..models import Conversation, Message, Participant


def message_data(message: Message) -> dict:
    return {
        "id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "seq": message.seq,
        "direction": message.direction,
        "sender_type": message.sender_type,
        "sender_name": message.sender_name,
        "agent_id": str(message.agent_id) if message.agent_id else None,
        "text": message.text,
        "attachments": message.attachments,
        "status": message.status,
        "status_changed_at": message.status_changed_at,
        "failure_reason": message.failure_reason,
        "partner_entry_id": message.partner_entry_id,
        "created_at": message.created_at,
        "subject": message.subject,
        "html": message.html,
    }


def conversation_data(conversation: Conversation) -> dict:
    return {
        "conversation_id": str(conversation.id),
        "status": conversation.status,
        "channel_address_id": conversation.channel_address_id,
        "end_user": conversation.end_user_address,
        "contact_id": str(conversation.contact_id),
        "routing_owner": conversation.routing_owner,
        "subject": conversation.subject,
    }


def active_agent_ids(conversation: Conversation) -> list:
    if sql.fast_path():
        return sql.participant_agent_ids(conversation.pk)
    return list(
        Participant.objects.filter(conversation=conversation, left_at__isnull=True).values_list("agent_id", flat=True)
    )


def conversation_publish(
    conversation: Conversation, type_: str, data: dict, *, partner: bool = True, agents=None
) -> None:
    """`agents`: Membership ids read from this conversation's participants (default: the current ones)."""
    event_publish(
        tenant=conversation.tenant,
        type=type_,
        data=data,
        partner=conversation.partner if partner else None,
        agent_ids=active_agent_ids(conversation) if agents is None else agents,
        agents_checked=True,
    )


def outbound_event_type(conversation: Conversation) -> PlatformEventType | None:
    channel = conversation.channel
    if channel is None or channel.installation_id is None:
        return None
    package_id = channel.installation.package_id
    found = _outbound_types.get_or_load(
        package_id,
        lambda: (PlatformEventType.objects.filter(package_id=package_id, outbound_messages=True).first(),),
    )
    return found[0]


# A package's outbound event type, per process (one query per agent reply otherwise); cleared on change.
_outbound_types: LocalTtlCache[tuple] = LocalTtlCache()


def forget_outbound_types(**_signal_kwargs) -> None:
    _outbound_types.clear()


def message_publish_to_agents(conversation: Conversation, message: Message, *, agents=None) -> None:
    """message.created to the agents only (a system line, a call's transcript, an unsent confirmation):
    the partner is not told. `agents` as for `conversation_publish`."""
    conversation_publish(
        conversation,
        "message.created",
        {**message_data(message), "conversation": conversation_data(conversation)},
        partner=False,
        agents=agents,
    )


def message_publish(conversation: Conversation, message: Message, *, agents=None) -> None:
    """Inbound: message.created to agents and partner. Outbound: the package's outbound event type
    (or message.created) to the partner, and message.created to the agents."""
    data = {**message_data(message), "conversation": conversation_data(conversation)}
    if message.direction != Direction.OUTBOUND:
        conversation_publish(conversation, "message.created", data, agents=agents)
        return
    custom = outbound_event_type(conversation)
    if custom is None:
        conversation_publish(conversation, "message.created", data, agents=agents)
        return
    conversation_publish(conversation, "message.created", data, partner=False, agents=agents)
    payload = {
        "message_id": str(message.id),
        "conversation_id": str(conversation.id),
        "text": message.text,
        "attachments": message.attachments,
        "sender_type": message.sender_type,
        "sender_name": message.sender_name,
    }
    if conversation.subject:  # an e-mail's: the partner answers "Re: <subject>"
        payload["subject"] = conversation.subject
    fields = {"channel_address_id": conversation.channel_address_id, "recipient": conversation.end_user_address}
    fields["payload"] = payload
    data = {k: v for k, v in fields.items() if k in custom.fields}
    event_publish(
        tenant=conversation.tenant, type=custom.api_name, data=data, partner=conversation.partner, schema=custom.schema
    )
