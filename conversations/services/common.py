"""What the interaction service's parts share: serialization, the conversation lock and append,
event publishing, and THE outbound path (`_outbound`, where consent is enforced)."""

from __future__ import annotations

import uuid
from urllib.parse import urlparse

from django.conf import settings
from django.utils import timezone

from ccp.core.local_cache import LocalTtlCache
from ccp.events.services import event_publish
from ccp.packages.models import PlatformEventType
from consent import services as consent
from consent.errors import ConsentDenied
from routing import services as routing
from routing.models import AgentWork, WorkItem
from routing.selectors import access_queue, open_work_item
from tenants.models import Membership

from ..choices import (
    ConversationStatus,
    Direction,
    MessageStatus,
    SenderType,
)
from ..errors import (
    NotAParticipant,
)
from ..models import Conversation, Message, Participant, Session


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
    }


def conversation_data(conversation: Conversation) -> dict:
    return {
        "conversation_id": str(conversation.id),
        "status": conversation.status,
        "channel_address_id": conversation.channel_address_id,
        "end_user": conversation.end_user_address,
        "contact_id": str(conversation.contact_id),
        "routing_owner": conversation.routing_owner,
    }


# --- entry validation ---------------------------------------------------------------------------


def _lock_conversation(conversation: Conversation) -> Conversation:
    # The channel's package and definition come along: consent and the outbound event need them.
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("channel__installation__package__channel_definition", "tenant", "partner")
        .defer("channel__installation__package__manifest")  # the whole manifest: large, unused here
        .get(pk=conversation.pk)
    )


def _append(conversation: Conversation, **fields) -> Message:
    """Add an entry at the end of the conversation. Precondition: the conversation row is locked."""
    conversation.last_seq += 1
    now = timezone.now()
    conversation.last_message_at = now
    conversation.save(update_fields=["last_seq", "last_message_at", "updated_at"])
    return Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        seq=conversation.last_seq,
        channel_address_id=conversation.channel_address_id,
        **fields,
    )


def active_agent_ids(conversation: Conversation) -> list:
    return list(
        Participant.objects.filter(conversation=conversation, left_at__isnull=True).values_list("agent_id", flat=True)
    )


def _publish(conversation: Conversation, type_: str, data: dict, *, partner: bool = True, agents=None) -> None:
    """`agents`: Membership ids read from this conversation's participants (default: the current ones)."""
    event_publish(
        tenant=conversation.tenant,
        type=type_,
        data=data,
        partner=conversation.partner if partner else None,
        agent_ids=active_agent_ids(conversation) if agents is None else agents,
        agents_checked=True,
    )


def _outbound_event_type(conversation: Conversation) -> PlatformEventType | None:
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


def _publish_message(conversation: Conversation, message: Message, *, agents=None) -> None:
    """Inbound: message.created to agents and partner. Outbound: the package's outbound event type
    (or message.created) to the partner, and message.created to the agents."""
    data = {**message_data(message), "conversation": conversation_data(conversation)}
    if message.direction != Direction.OUTBOUND:
        _publish(conversation, "message.created", data, agents=agents)
        return
    custom = _outbound_event_type(conversation)
    if custom is None:
        _publish(conversation, "message.created", data, agents=agents)
        return
    _publish(conversation, "message.created", data, partner=False, agents=agents)
    payload = {
        "message_id": str(message.id),
        "conversation_id": str(conversation.id),
        "text": message.text,
        "attachments": message.attachments,
        "sender_type": message.sender_type,
        "sender_name": message.sender_name,
    }
    fields = {"channel_address_id": conversation.channel_address_id, "recipient": conversation.end_user_address}
    fields["payload"] = payload
    data = {k: v for k, v in fields.items() if k in custom.fields}
    event_publish(
        tenant=conversation.tenant, type=custom.api_name, data=data, partner=conversation.partner, schema=custom.schema
    )


def _end_user_wrote(conversation: Conversation) -> bool:
    """Implicit consent: the end user started this conversation or has written in it."""
    return (
        conversation.initiated_by == SenderType.END_USER
        or conversation.messages.filter(direction=Direction.INBOUND).exists()
    )


def _outbound(
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
    decision = consent.consent_check_outbound(
        channel=conversation.channel,
        address=conversation.end_user_address,
        end_user_wrote=_end_user_wrote(conversation),
        confirmation=consent_reply,
    )
    if not decision.allowed:
        if sender_type == SenderType.AGENT:
            raise ConsentDenied(decision.reason, details={"status": decision.status, "owner": decision.owner})
        return None
    message = _append(
        conversation,
        direction=Direction.OUTBOUND,
        sender_type=sender_type,
        sender_name=sender_name,
        agent=agent,
        text=text,
        attachments=attachments or [],
        status=MessageStatus.SENT,
        status_changed_at=timezone.now(),
    )
    _publish_message(conversation, message, agents=agents)
    return message


def _system_to(conversation: Conversation, text: str, agents) -> Message:
    message = _append(conversation, direction=Direction.SYSTEM, sender_type=SenderType.SYSTEM, text=text)
    _publish(
        conversation,
        "message.created",
        {**message_data(message), "conversation": conversation_data(conversation)},
        partner=False,
        agents=agents,
    )
    return message


# --- agents ---------------------------------------------------------------------------------------


def open_session(conversation: Conversation) -> Session:
    session = Session.objects.filter(conversation=conversation, is_open=True).first()
    if session is None:
        session = Session.objects.create(tenant_id=conversation.tenant_id, conversation=conversation)
    return session


def _open_item(session: Session) -> WorkItem | None:
    return open_work_item(tenant_id=session.tenant_id, reference=str(session.id))


def _first_text(conversation: Conversation) -> str:
    first = conversation.messages.filter(direction=Direction.INBOUND).order_by("seq").first()
    return (first.text if first else "")[:280]


def _attributes(conversation: Conversation) -> dict:
    channel = conversation.channel
    return {
        "conversation_id": str(conversation.id),
        "contact_id": str(conversation.contact_id),
        "contact_name": conversation.contact.name or conversation.end_user_address,
        "end_user": conversation.end_user_address,
        "channel_address_id": conversation.channel_address_id,
        "channel_name": channel.name if channel else conversation.channel_address_id,
        "channel_type": channel.channel_type if channel else "messaging",
        "first_message": _first_text(conversation),
    }


def start_routing(conversation: Conversation, session: Session, *, queue_name: str | None = None) -> WorkItem | None:
    """Create the session's WorkItem (unless one is open): routed now, or asked of the partner."""
    if _open_item(session) is not None:
        return None
    queue = access_queue(tenant=conversation.tenant, name=queue_name) if queue_name else None
    previous = (
        Participant.objects.filter(
            conversation__contact_id=conversation.contact_id, conversation__tenant=conversation.tenant
        )
        .exclude(conversation=conversation)
        .order_by("-joined_at")
        .values_list("agent_id", flat=True)
        .first()
    )
    conversation.status = ConversationStatus.ROUTING
    conversation.save(update_fields=["status", "updated_at"])
    return routing.work_item_create(
        tenant=conversation.tenant,
        reference=str(session.id),
        channel_type=conversation.channel.channel_type if conversation.channel else "messaging",
        routing_owner=conversation.routing_owner,
        partner=conversation.partner,
        queue=queue,
        attributes=_attributes(conversation),
        preferred_agent=Membership.objects.filter(pk=previous).first() if previous else None,
    )


# --- the partner's interactions (FIG 13) ---------------------------------------------------------


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _require_participant(conversation: Conversation, agent: Membership) -> None:
    if agent.pk not in active_agent_ids(conversation):
        raise NotAParticipant()


def _session_of(work: AgentWork) -> Session | None:
    return Session.objects.select_related("conversation").filter(pk=_uuid_or_none(work.work_item.reference)).first()


def _is_http_url(url: str) -> bool:
    try:
        parts = urlparse(url)
    except ValueError:  # e.g. "http://[": an unbalanced IPv6 bracket
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _attachment_problems(raw, where: str, problems: dict, codes: list) -> list[dict]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_ATTACHMENTS:
        problems[where] = [f"must be a list of at most {MAX_ATTACHMENTS} attachments"]
        codes.append("invalid")
        return []
    clean = []
    for j, item in enumerate(raw):
        path = f"{where}[{j}]"
        if not isinstance(item, dict):
            problems[path] = ["must be an object with url, content_type, name, size"]
            codes.append("invalid")
            continue
        url = item.get("url")
        if not isinstance(url, str) or not _is_http_url(url):
            problems[f"{path}.url"] = ["must be an http(s) URL"]
            codes.append("invalid")
        size = item.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            problems[f"{path}.size"] = ["must be a whole number of bytes"]
            codes.append("invalid")
        elif isinstance(size, int) and size > settings.ATTACHMENT_MAX_BYTES:
            problems[f"{path}.size"] = [f"is over the limit of {settings.ATTACHMENT_MAX_BYTES} bytes"]
            codes.append("attachment_too_large")
        clean.append(
            {
                "url": url,
                "content_type": str(item.get("content_type") or "application/octet-stream")[:100],
                "name": str(item.get("name") or "")[:200],
                "size": size if isinstance(size, int) else None,
            }
        )
    return clean


MAX_ATTACHMENTS = 10


# --- serialization shared by events and the APIs ------------------------------------------------


def _close_locked(conversation: Conversation, *, closed_by: str, agent: Membership | None) -> None:
    now = timezone.now()
    acw = (
        int((conversation.channel.settings or {}).get("acw_seconds", settings.DEFAULT_ACW_SECONDS))
        if (conversation.channel)
        else 0
    )
    sessions = list(Session.objects.filter(conversation=conversation, is_open=True))
    agents_before = active_agent_ids(conversation)
    for session in sessions:
        routing.work_items_end(
            tenant_id=conversation.tenant_id,
            reference=str(session.id),
            acw_seconds=acw,
            reason="the conversation was closed",
        )
        session.is_open = False
        session.ended_at = now
        session.save(update_fields=["is_open", "ended_at"])
    Participant.objects.filter(conversation=conversation, left_at__isnull=True).update(
        left_at=now, leave_reason="closed"
    )
    by = agent.name if agent is not None else closed_by
    _system_to(conversation, f"Conversation closed by {by}.", agents_before)
    conversation.status = ConversationStatus.CLOSED
    conversation.closed_at = now
    conversation.save(update_fields=["status", "closed_at", "updated_at"])
    _publish(
        conversation,
        "conversation.closed",
        {**conversation_data(conversation), "closed_by": closed_by, "agent_id": str(agent.pk) if agent else None},
        agents=agents_before,
    )
