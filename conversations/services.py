"""The interaction service (FIG 12, 13, 19, 23): it orchestrates tenants, routing and the event bus.

Every entry point runs in one database transaction: a partner's interaction stores the contact,
conversation, session, messages and the outbox events together, and starts routing — or nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlparse

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ccp.core.errors import Conflict, Invalid, NotFound
from ccp.events.services import event_publish
from ccp.packages.choices import Owner
from ccp.packages.models import Partner, PlatformEventType
from consent import services as consent
from consent.errors import ConsentDenied
from routing import services as routing
from routing.choices import Engine, WorkItemStatus, WorkStatus
from routing.errors import AlreadyOffered, NotRoutingOwner, OfferExpired
from routing.models import AgentWork, Queue, WorkItem
from routing.selectors import access_agent, access_queue, presence_for
from tenants.models import Channel, Membership
from tenants.selectors import channel_for_partner

from . import flows
from .choices import (
    OPEN_STATUSES,
    STATUS_RANK,
    ConversationStatus,
    Direction,
    MessageStatus,
    SenderType,
)
from .errors import (
    AgentOffline,
    ChannelInactive,
    ConversationClosed,
    InstallationInactive,
    NotAParticipant,
    UnknownMessage,
)
from .models import Contact, Conversation, EndUserAddress, Message, Participant, Session

ENTRY_TYPES = ("message", "typing_started", "typing_stopped", "delivered", "read", "delivery_failed")
RECEIPTS = {"delivered": MessageStatus.DELIVERED, "read": MessageStatus.READ, "delivery_failed": MessageStatus.FAILED}
MAX_ENTRIES = 100
MAX_ATTACHMENTS = 10


# --- serialization shared by events and the APIs ------------------------------------------------


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


@dataclass
class Entry:
    id: str | None
    type: str
    text: str = ""
    attachments: list[dict] = field(default_factory=list)
    message_id: str | None = None
    reason: str = ""
    timestamp: datetime | None = None


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
        if not isinstance(url, str) or urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
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


def parse_entries(raw) -> list[Entry]:
    """Check every entry before anything is stored; all problems at once, by path."""
    problems: dict[str, list[str]] = {}
    codes: list[str] = []
    if not isinstance(raw, list) or not raw or len(raw) > MAX_ENTRIES:
        raise Invalid(
            f"entries must be a list of 1 to {MAX_ENTRIES} entries.",
            code="invalid",
            details={"entries": ["must be a non-empty list"]},
        )
    out = []
    for i, item in enumerate(raw):
        where = f"entries[{i}]"
        if not isinstance(item, dict):
            problems[where] = ["must be an object"]
            codes.append("invalid")
            continue
        kind = item.get("type")
        if kind not in ENTRY_TYPES:
            problems[f"{where}.type"] = [f"must be one of {', '.join(ENTRY_TYPES)}"]
            codes.append("invalid")
            continue
        entry_id = item.get("id")
        if entry_id is not None and (not isinstance(entry_id, str) or not 0 < len(entry_id) <= 200):
            problems[f"{where}.id"] = ["must be a string of 1 to 200 characters"]
            codes.append("invalid")
        entry = Entry(id=entry_id, type=kind)
        stamp = item.get("timestamp")
        if stamp is not None:
            parsed = parse_datetime(stamp) if isinstance(stamp, str) else None
            if parsed is None or parsed.tzinfo is None:
                problems[f"{where}.timestamp"] = ["must be an ISO 8601 time with a zone, e.g. 2026-11-25T10:00:00Z"]
                codes.append("invalid")
            entry.timestamp = parsed
        if kind == "message":
            if entry_id is None:
                problems[f"{where}.id"] = ["is required: it makes re-sending safe"]
                codes.append("invalid")
            text = item.get("text", "")
            if not isinstance(text, str) or len(text) > settings.MESSAGE_MAX_CHARS:
                problems[f"{where}.text"] = [f"must be text of at most {settings.MESSAGE_MAX_CHARS} characters"]
                codes.append("invalid")
                text = ""
            entry.text = text
            entry.attachments = _attachment_problems(item.get("attachments"), f"{where}.attachments", problems, codes)
            if not text.strip() and not item.get("attachments"):
                problems[where] = ["a message needs text or an attachment"]
                codes.append("empty_message")
        elif kind in RECEIPTS:
            if not isinstance(item.get("message_id"), str):
                problems[f"{where}.message_id"] = ["is required: the id of our outbound message"]
                codes.append("invalid")
            entry.message_id = item.get("message_id")
            entry.reason = str(item.get("reason") or "")[:300]
        out.append(entry)
    if problems:
        code = codes[0] if len(set(codes)) == 1 else next((c for c in codes if c != "invalid"), "invalid")
        raise Invalid(f"{len(problems)} entry problem(s); see details.", code=code, details=problems)
    return out


# --- conversation plumbing ----------------------------------------------------------------------


def _lock_conversation(conversation: Conversation) -> Conversation:
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("channel", "tenant", "partner")
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
    event_publish(
        tenant=conversation.tenant,
        type=type_,
        data=data,
        partner=conversation.partner if partner else None,
        agent_ids=active_agent_ids(conversation) if agents is None else agents,
    )


def _outbound_event_type(conversation: Conversation) -> PlatformEventType | None:
    channel = conversation.channel
    if channel is None or channel.installation_id is None:
        return None
    return PlatformEventType.objects.filter(package_id=channel.installation.package_id, outbound_messages=True).first()


def _publish_message(conversation: Conversation, message: Message) -> None:
    """Inbound: message.created to agents and partner. Outbound: the package's outbound event type
    (or message.created) to the partner, and message.created to the agents."""
    data = {**message_data(message), "conversation": conversation_data(conversation)}
    if message.direction != Direction.OUTBOUND:
        _publish(conversation, "message.created", data)
        return
    custom = _outbound_event_type(conversation)
    if custom is None:
        _publish(conversation, "message.created", data)
        return
    _publish(conversation, "message.created", data, partner=False)
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
) -> Message | None:
    """Store an outbound message and publish it to the partner (the one outbound path).

    Consent is checked here, and only here (FIG 15 1512, FIG 16B), holding the consent row's lock
    until this transaction commits: an agent's message that may not go raises ConsentDenied (nothing
    is stored); an automatic one (greeting, bot, business hours) is dropped and None returned.
    `consent_reply`: the one confirmation of a STOP/START keyword, allowed even after an opt-out.
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
    _publish_message(conversation, message)
    return message


def _system(conversation: Conversation, text: str) -> Message:
    message = _append(conversation, direction=Direction.SYSTEM, sender_type=SenderType.SYSTEM, text=text)
    _publish_message(conversation, message)
    return message


def _get_or_create_address(channel: Channel, address: str, name: str) -> EndUserAddress:
    """The end user's address on this channel (race-safe), with the name filled in if we had none."""
    found = EndUserAddress.objects.select_related("contact").filter(channel=channel, address=address).first()
    if found is None:
        try:
            with transaction.atomic():
                contact = Contact.objects.create(tenant_id=channel.tenant_id, name=(name or "")[:200])
                return EndUserAddress.objects.create(
                    tenant_id=channel.tenant_id, contact=contact, channel=channel, address=address
                )
        except IntegrityError:  # a concurrent first request created it
            found = EndUserAddress.objects.select_related("contact").get(channel=channel, address=address)
    if name and not found.contact.name:
        Contact.objects.filter(pk=found.contact_id).update(name=name[:200])
        found.contact.name = name[:200]
    return found


def _only_typing_without_conversation(channel: Channel, address: str, entries: list[Entry]) -> bool:
    """Typing from an end user with no open conversation starts nothing: it is not a message."""
    if any(e.type not in ("typing_started", "typing_stopped") for e in entries):
        return False
    return not Conversation.objects.filter(channel=channel, end_user_address=address, status__in=OPEN_STATUSES).exists()


def _open_conversation(channel: Channel, address: EndUserAddress, initiated_by: str) -> tuple[Conversation, bool]:
    """The open conversation of this end user on this channel, created if none (race-safe)."""
    for _ in range(3):
        found = Conversation.objects.filter(
            channel=channel, end_user_address=address.address, status__in=OPEN_STATUSES
        ).first()
        if found is not None:
            return _lock_conversation(found), False
        try:
            with transaction.atomic():
                conversation = Conversation.objects.create(
                    tenant_id=channel.tenant_id,
                    channel=channel,
                    partner_id=channel.installation.package.partner_id if channel.installation_id else None,
                    channel_address_id=channel.channel_address_id,
                    contact_id=address.contact_id,
                    end_user=address,
                    end_user_address=address.address,
                    routing_owner=(
                        channel.installation.package.channel_definition.routing_owner
                        if channel.installation_id
                        else Owner.PLATFORM
                    ),
                    initiated_by=initiated_by,
                )
                Session.objects.create(tenant_id=channel.tenant_id, conversation=conversation)
            return _lock_conversation(conversation), True
        except IntegrityError:
            continue  # someone else opened it first: use theirs
    raise Conflict("The conversation changed under us; retry.", code="conflict")


def open_session(conversation: Conversation) -> Session:
    session = Session.objects.filter(conversation=conversation, is_open=True).first()
    if session is None:
        session = Session.objects.create(tenant_id=conversation.tenant_id, conversation=conversation)
    return session


def _held(conversation: Conversation) -> bool:
    return Participant.objects.filter(conversation=conversation, left_at__isnull=True).exists()


def _open_item(session: Session) -> WorkItem | None:
    return WorkItem.objects.filter(
        tenant_id=session.tenant_id,
        reference=str(session.id),
        status__in=(WorkItemStatus.QUEUED, WorkItemStatus.OFFERED, WorkItemStatus.ASSIGNED),
        is_transfer=False,
    ).first()


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


def interaction_receive(*, partner: Partner, to: str, from_address: str, from_name: str = "", entries) -> dict:
    """Store a partner's batch of entries for (to, from) and start routing if nobody holds it."""
    channel = channel_for_partner(partner=partner, channel_address_id=to)
    if not channel.installation.is_active:
        raise InstallationInactive()
    if not channel.is_active:
        raise ChannelInactive()
    if not isinstance(from_address, str) or not 0 < len(from_address) <= 300:
        raise Invalid("from must be the end user's address.", code="invalid", details={"from": ["is required"]})
    parsed = parse_entries(entries)
    with transaction.atomic():
        return _receive(channel, from_address, from_name or "", parsed)


def _receive(channel: Channel, from_address: str, from_name: str, entries: list[Entry]) -> dict:
    if _only_typing_without_conversation(channel, from_address, entries):
        return {
            "conversation_id": None,
            "session_id": None,
            "status": "none",
            "entries": [{"id": e.id, "message_id": None, "duplicate": False} for e in entries],
        }
    address = _get_or_create_address(channel, from_address, from_name)
    conversation, created = _open_conversation(channel, address, SenderType.END_USER)
    session = open_session(conversation)
    results = []
    new_texts = []
    for entry in entries:
        if entry.type == "message":
            message, duplicate = _store_inbound(conversation, session, entry, from_name)
            results.append({"id": entry.id, "message_id": str(message.id), "duplicate": duplicate})
            if not duplicate:
                new_texts.append(entry.text)
        elif entry.type in RECEIPTS:
            message = _apply_receipt(conversation, entry)
            results.append({"id": entry.id, "message_id": str(message.id), "duplicate": False})
        else:
            _publish(
                conversation,
                "typing.started" if entry.type == "typing_started" else "typing.stopped",
                {**conversation_data(conversation), "who": "end_user"},
                partner=False,
            )
            results.append({"id": entry.id, "message_id": None, "duplicate": False})
    if created:
        _publish(conversation, "conversation.created", {**conversation_data(conversation), "initiated_by": "end_user"})
    if new_texts:
        if _consent_keywords(conversation, new_texts) and created:
            _close_locked(conversation, closed_by="consent_keyword", agent=None)  # a keyword alone needs no agent
        else:
            _after_inbound(conversation, session, created, new_texts[-1])
    return {
        "conversation_id": str(conversation.id),
        "session_id": str(session.id),
        "status": conversation.status,
        "entries": results,
    }


def _consent_keywords(conversation: Conversation, texts: list[str]) -> bool:
    """STOP / START / YES change platform-owned consent; each gets its one confirmation reply."""
    handled = False
    for text in texts:
        outcome = consent.consent_keyword(
            channel=conversation.channel, address=conversation.end_user_address, text=text
        )
        if outcome is not None:
            _outbound(
                conversation, text=outcome.reply, sender_type=SenderType.BOT, sender_name="Consent", consent_reply=True
            )
            handled = True
    return handled


def _store_inbound(conversation: Conversation, session: Session, entry: Entry, from_name: str) -> tuple[Message, bool]:
    existing = Message.objects.filter(
        channel_address_id=conversation.channel_address_id, partner_entry_id=entry.id
    ).first()
    if existing is not None:
        return existing, True
    try:
        with transaction.atomic():
            message = _append(
                conversation,
                session=session,
                direction=Direction.INBOUND,
                sender_type=SenderType.END_USER,
                sender_name=from_name[:200],
                text=entry.text,
                attachments=entry.attachments,
                partner_entry_id=entry.id,
                sent_at=entry.timestamp,
            )
    except IntegrityError:  # the same entry in a concurrent request won
        conversation.refresh_from_db(fields=["last_seq"])
        return Message.objects.get(channel_address_id=conversation.channel_address_id, partner_entry_id=entry.id), True
    _publish_message(conversation, message)
    return message, False


def _apply_receipt(conversation: Conversation, entry: Entry) -> Message:
    message = (
        Message.objects.select_for_update()
        .filter(pk=_uuid_or_none(entry.message_id), conversation=conversation, direction=Direction.OUTBOUND)
        .first()
    )
    if message is None:
        raise UnknownMessage(details={"message_id": entry.message_id})
    new = RECEIPTS[entry.type]
    if STATUS_RANK.get(new, 0) > STATUS_RANK.get(message.status, 0):
        message.status = new
        message.status_changed_at = entry.timestamp or timezone.now()
        message.failure_reason = entry.reason if new == MessageStatus.FAILED else ""
        message.save(update_fields=["status", "status_changed_at", "failure_reason"])
        _publish(
            conversation,
            "message.status_changed",
            {**message_data(message), "conversation": conversation_data(conversation)},
        )
    return message


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _after_inbound(conversation: Conversation, session: Session, created: bool, text: str) -> None:
    """Run the channel flow for the new message and route when nobody holds the conversation."""
    if created:
        hello = flows.greeting(conversation.channel)
        if hello:
            _outbound(conversation, text=hello, sender_type=SenderType.BOT, sender_name="Greeting")
    if _held(conversation) or _open_item(session) is not None:
        return
    decision = flows.decide(channel=conversation.channel, text=text, state=session.flow_state)
    session.save(update_fields=["flow_state"])
    if decision.action == "wait":
        conversation.status = ConversationStatus.WAITING
        conversation.save(update_fields=["status", "updated_at"])
        if decision.reply:
            _outbound(conversation, text=decision.reply, sender_type=SenderType.BOT, sender_name="Business hours")
        return
    if decision.action == "bot":
        conversation.status = ConversationStatus.BOT
        conversation.save(update_fields=["status", "updated_at"])
        if decision.reply:
            _outbound(conversation, text=decision.reply, sender_type=SenderType.BOT, sender_name=decision.bot_name)
        return
    start_routing(conversation, session, queue_name=decision.queue)


# --- partner-owned routing and partner actions ---------------------------------------------------


def route_by_partner(
    *, partner: Partner, conversation: Conversation, agent_id=None, queue: str | None = None, routing_request_id=None
) -> AgentWork | WorkItem:
    with transaction.atomic():
        conversation = _lock_conversation(conversation)
        if not conversation.is_open:
            raise ConversationClosed()
        session = open_session(conversation)
        pending_transfer = WorkItem.objects.filter(
            tenant_id=conversation.tenant_id, reference=str(session.id), is_transfer=True, status=WorkItemStatus.QUEUED
        ).first()
        item = pending_transfer or _open_item(session)
        if item is None:
            if conversation.routing_owner != Owner.PARTNER:
                raise NotRoutingOwner()
            raise AlreadyOffered("This conversation is already held by an agent.")
        agent = access_agent(tenant=conversation.tenant, agent_id=agent_id) if agent_id else None
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
        for item in WorkItem.objects.filter(reference=str(session.id), tenant_id=conversation.tenant_id).exclude(
            status__in=(WorkItemStatus.DONE, WorkItemStatus.CANCELED)
        ):
            for work in item.works.filter(status=WorkStatus.ACCEPTED):
                routing.work_close(work=work, acw_seconds=acw)
            routing.work_item_cancel(work_item=item, reason="the conversation was closed")
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


def _session_of(work: AgentWork) -> Session | None:
    return Session.objects.select_related("conversation").filter(pk=_uuid_or_none(work.work_item.reference)).first()


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


def _require_participant(conversation: Conversation, agent: Membership) -> None:
    if agent.pk not in active_agent_ids(conversation):
        raise NotAParticipant()


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
        _require_participant(conversation, agent)
        if presence_for(membership=agent).status == "offline":
            raise AgentOffline()
        return _outbound(
            conversation,
            text=text,
            sender_type=SenderType.AGENT,
            sender_name=agent.name,
            agent=agent,
            attachments=clean_attachments,
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
        pending = WorkItem.objects.filter(
            tenant_id=conversation.tenant_id,
            reference=str(session.id),
            is_transfer=True,
            status__in=(WorkItemStatus.QUEUED, WorkItemStatus.OFFERED),
        ).first()
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
        work = item.works.filter(status=WorkStatus.OFFERED).first()
        return {"work_item_id": str(item.id), "status": item.status, "work_id": str(work.id) if work else None}


def _direct_transfer_item(conversation, session, agent, target) -> WorkItem:
    item = WorkItem.objects.create(
        tenant_id=conversation.tenant_id,
        reference=str(session.id),
        channel_type=conversation.channel.channel_type if conversation.channel else "messaging",
        partner=conversation.partner,
        attributes={**_attributes(conversation), "transfer_from": str(agent.pk), "transfer_from_name": agent.name},
        is_transfer=True,
    )
    routing.work_offer(work_item=item, agent_id=target.pk, engine=Engine.DIRECT)
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
        item = WorkItem.objects.create(
            tenant_id=conversation.tenant_id,
            reference=str(session.id),
            channel_type=channel.channel_type,
            partner=conversation.partner,
            attributes={**_attributes(conversation), "outbound": True},
        )
        work = routing.work_accept(work=routing.work_offer(work_item=item, agent_id=agent.pk, engine=Engine.DIRECT))
        Participant.objects.create(tenant_id=conversation.tenant_id, conversation=conversation, agent=agent, work=work)
        conversation.status = ConversationStatus.ACTIVE
        conversation.save(update_fields=["status", "updated_at"])
        _publish(conversation, "conversation.created", {**conversation_data(conversation), "initiated_by": "agent"})
        return _outbound(conversation, text=text, sender_type=SenderType.AGENT, sender_name=agent.name, agent=agent)
