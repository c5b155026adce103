"""The partner's interactions (FIG 13): entries validated as a whole, stored idempotently with their
events in one transaction, then consent keywords, the channel flow and routing."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from ccp.core.errors import DomainError
from ccp.core.ids import parse_id
from ccp.packages.models import Partner
from consent import services as consent
from tenants.models import Channel
from tenants.selectors import channel_for_partner

from .. import flows, sql
from ..choices import (
    OPEN_STATUSES,
    STATUS_RANK,
    ConversationStatus,
    Direction,
    MessageStatus,
    SenderType,
)
from ..errors import (
    ChannelInactive,
    InstallationInactive,
    UnknownMessage,
)
from ..models import Contact, Conversation, Message, Session
from .inputs import Entry, entries_parse, interaction_from_check, interaction_thread_check
from .lifecycle import (
    Opening,
    conversation_close_locked,
    conversation_open_session,
    end_user_address_find_or_create,
    message_append,
    message_append_publish,
    open_conversation_lock,
    open_session,
    session_open_item,
    start_routing,
)
from .outbound import outbound_send
from .payloads import (
    active_agent_ids,
    conversation_data,
    conversation_publish,
    message_data,
    message_publish_to_agents,
)
from .sla import sla_end_user_wrote

logger = logging.getLogger(__name__)


RECEIPTS = {"delivered": MessageStatus.DELIVERED, "read": MessageStatus.READ, "delivery_failed": MessageStatus.FAILED}


def _only_typing_without_conversation(channel: Channel, address: str, entries: list[Entry], thread: str) -> bool:
    """Typing from an end user with no open conversation starts nothing: it is not a message."""
    if any(e.type not in ("typing_started", "typing_stopped") for e in entries):
        return False
    return not Conversation.objects.filter(
        channel=channel, end_user_address=address, thread_key=thread, status__in=OPEN_STATUSES
    ).exists()


def interaction_receive(
    *, partner: Partner, to: str, from_address: str, from_name: str = "", entries, thread: str = ""
) -> dict:
    """Store a partner's batch of entries for (to, from[, thread]) and start routing if nobody holds it.

    `thread`: the partner's own thread key (an e-mail thread's first Message-ID): an end user may have
    one open conversation per thread on a channel; chat partners leave it out (one per address)."""
    channel = channel_for_partner(partner=partner, channel_address_id=to)
    if not channel.installation.is_active:
        raise InstallationInactive()
    if not channel.is_active:
        raise ChannelInactive()
    interaction_from_check(from_address)
    interaction_thread_check(thread)
    parsed = entries_parse(entries)
    with transaction.atomic():
        return _receive(channel, from_address, from_name or "", parsed, partner, thread)


def _receive(
    channel: Channel, from_address: str, from_name: str, entries: list[Entry], partner: Partner, thread: str = ""
) -> dict:
    if _only_typing_without_conversation(channel, from_address, entries, thread):
        return {
            "conversation_id": None,
            "session_id": None,
            "status": "none",
            "entries": [{"id": e.id, "message_id": None, "duplicate": False} for e in entries],
        }
    # An end user writing into an open conversation (the common case) costs one locking query.
    conversation = open_conversation_lock(channel, from_address, partner=partner, thread=thread)
    new_session, new_contact = None, False
    if conversation is None:
        address, new_contact = end_user_address_find_or_create(channel, from_address, from_name)
        conversation, new_session = conversation_open_session(
            channel, address, SenderType.END_USER, thread=thread, partner=partner, looked=True
        )
    elif from_name and not conversation.contact.name:
        Contact.objects.filter(pk=conversation.contact_id).update(name=from_name[:200])
        conversation.contact.name = from_name[:200]
    created = new_session is not None
    # Who holds it cannot change before we commit: joining and leaving lock the conversation too.
    if created:  # nobody holds it yet; an entry stored before (in a closed one) conflicts on insert
        session, agents, stored = new_session, [], {}
    elif sql.fast_path():  # session, holders and stored entries in one statement
        session, agents, stored = sql.inbound_context(conversation, [e.id for e in entries if e.type == "message"])
        session = session or open_session(conversation)
    else:
        session, agents, stored = open_session(conversation), active_agent_ids(conversation), None
    results = []
    new_texts = []
    first_new_at = None
    for entry in entries:
        if entry.type == "message":
            message_id, created_at = _store_inbound(conversation, session, entry, from_name, agents, stored)
            duplicate = created_at is None
            results.append({"id": entry.id, "message_id": message_id, "duplicate": duplicate})
            if not duplicate:
                new_texts.append(entry.text)
                first_new_at = first_new_at or created_at
        elif entry.type in RECEIPTS:
            message = _apply_receipt(conversation, entry)
            results.append({"id": entry.id, "message_id": str(message.id), "duplicate": False})
        else:
            conversation_publish(
                conversation,
                "typing.started" if entry.type == "typing_started" else "typing.stopped",
                {**conversation_data(conversation), "who": "end_user"},
                partner=False,
            )
            results.append({"id": entry.id, "message_id": None, "duplicate": False})
    if created:
        conversation_publish(
            conversation,
            "conversation.created",
            {**conversation_data(conversation), "initiated_by": "end_user"},
            agents=agents,
        )
    if new_texts:
        if _consent_keywords(conversation, new_texts) and created:
            conversation_close_locked(
                conversation, closed_by="consent_keyword", agent=None
            )  # a keyword alone needs no agent
        else:
            opening = Opening(new_contact=new_contact, first_text=new_texts[0]) if created else None
            _after_inbound(conversation, session, opening, new_texts[-1], held=bool(agents))
            sla_end_user_wrote(conversation, at=first_new_at)  # after routing: the queue's policy applies
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
            _confirm_keyword(conversation, outcome.reply)
            handled = True
    return handled


def _confirm_keyword(conversation: Conversation, reply: str) -> None:
    """Send a keyword's confirmation; when it cannot be sent, the consent change stands anyway.

    The change is the end user's decision and is already written in this transaction; a refused
    confirmation (the partner's outbound schema rejects it, …) must not roll it back. The reply is
    then stored as a failed outbound message with the reason, which agents see in the transcript
    (message.created), and logged; the partner gets nothing.
    """
    seq, last_message_at = conversation.last_seq, conversation.last_message_at
    try:
        with transaction.atomic():
            outbound_send(
                conversation, text=reply, sender_type=SenderType.BOT, sender_name="Consent", consent_reply=True
            )
        return
    except DomainError as exc:
        conversation.last_seq, conversation.last_message_at = seq, last_message_at  # the savepoint undid them
        reason = f"{exc.code}: {exc.message}"
    logger.warning("consent confirmation for conversation %s not sent (%s)", conversation.pk, reason)
    message = message_append(
        conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.BOT,
        sender_name="Consent",
        text=reply,
        status=MessageStatus.FAILED,
        status_changed_at=timezone.now(),
        failure_reason=f"Not sent — {reason}"[:300],
    )
    message_publish_to_agents(conversation, message)


def _store_inbound(
    conversation: Conversation, session: Session, entry: Entry, from_name: str, agents: list, stored: dict | None
) -> tuple[str, object]:
    """Store one message entry unless it is stored already: (message id, its created_at), or
    (the stored message's id, None) for a duplicate. `stored`: the entries found stored by
    `sql.inbound_context` ({entry id: message id}); None means look them up here."""
    if stored is None:
        existing = (
            Message.objects.filter(
                tenant_id=conversation.tenant_id,
                channel_address_id=conversation.channel_address_id,
                partner_entry_id=entry.id,
            )
            .values_list("id", flat=True)
            .first()
        )
        if existing is not None:
            return str(existing), None
    elif entry.id in stored:
        return stored[entry.id], None
    subject = entry.subject[:998] if entry.subject and not conversation.subject else ""
    if subject:  # an e-mail thread's first subject names the conversation, in the events too
        conversation.subject = subject
    message = message_append_publish(
        conversation,
        agents=agents,
        session=session,
        direction=Direction.INBOUND,
        sender_type=SenderType.END_USER,
        sender_name=from_name[:200],
        text=entry.text,
        attachments=entry.attachments,
        partner_entry_id=entry.id,
        sent_at=entry.timestamp,
        subject=entry.subject,
        html=entry.html,
    )
    if message is None:  # the same entry in a concurrent request won
        if subject:
            conversation.subject = ""
        existing = Message.objects.get(
            tenant_id=conversation.tenant_id,
            channel_address_id=conversation.channel_address_id,
            partner_entry_id=entry.id,
        )
        return str(existing.id), None
    if subject:
        conversation.save(update_fields=["subject", "updated_at"])
    return str(message.id), message.created_at


def _apply_receipt(conversation: Conversation, entry: Entry) -> Message:
    message = (
        Message.objects.select_for_update()
        .filter(pk=parse_id(entry.message_id), conversation=conversation, direction=Direction.OUTBOUND)
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
        conversation_publish(
            conversation,
            "message.status_changed",
            {**message_data(message), "conversation": conversation_data(conversation)},
        )
    return message


def _after_inbound(
    conversation: Conversation, session: Session, opening: Opening | None, text: str, *, held: bool
) -> None:
    """Run the channel flow for the new message and route when nobody holds the conversation.
    `opening`: set when this request opened the conversation (its session has no work item yet)."""
    if opening is not None:
        hello = flows.greeting(conversation.channel)
        if hello:
            outbound_send(conversation, text=hello, sender_type=SenderType.BOT, sender_name="Greeting")
    if held or (opening is None and session_open_item(session) is not None):
        return
    state_before = dict(session.flow_state)  # the flow sets top-level keys only
    decision = flows.decide(channel=conversation.channel, text=text, state=session.flow_state)
    if session.flow_state != state_before:
        session.save(update_fields=["flow_state"])
    if decision.action == "wait":
        conversation.status = ConversationStatus.WAITING
        conversation.save(update_fields=["status", "updated_at"])
        if decision.reply:
            outbound_send(conversation, text=decision.reply, sender_type=SenderType.BOT, sender_name="Business hours")
        return
    if decision.action == "bot":
        conversation.status = ConversationStatus.BOT
        conversation.save(update_fields=["status", "updated_at"])
        if decision.reply:
            outbound_send(conversation, text=decision.reply, sender_type=SenderType.BOT, sender_name=decision.bot_name)
        return
    # the open-item check above stands for start_routing's own
    start_routing(conversation, session, queue_name=decision.queue, opened=opening or Opening(new_contact=False))
