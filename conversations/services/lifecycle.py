"""A conversation's life: locking, appending entries, opening (race-safe, with the end user's address
and contact), sessions and their routing, participants, and closing. Builds on `payloads`."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ccp.core.bulk import mark_saved
from ccp.core.errors import Conflict
from ccp.core.ids import parse_id
from ccp.events.services import events_deferred, events_written
from ccp.packages.choices import Owner
from ccp.packages.models import Partner
from routing import services as routing
from routing.models import AgentWork, WorkItem
from routing.selectors import (
    access_queue,
    open_work_item,
)
from tenants.models import Channel, Membership, Tenant
from tenants.selectors import channel_cached

from .. import sql
from ..choices import (
    OPEN_STATUSES,
    ConversationStatus,
    Direction,
    SenderType,
)
from ..errors import (
    ConversationClosed,
    ConversationNotFound,
    NotAParticipant,
)
from ..models import Contact, Conversation, EndUserAddress, Message, Participant, Session
from .call_records import call_hangup_on_close
from .payloads import (
    active_agent_ids,
    conversation_data,
    conversation_publish,
    message_publish,
    message_publish_to_agents,
)
from .sla import sla_conversation_closed


def conversation_lock(conversation: Conversation) -> Conversation:
    """The conversation re-read and locked until commit, with its channel, the channel's package and
    definition (consent and the outbound event need them), tenant and partner. Those come from the
    per-process channel cache (`tenants.selectors.channel_cached`), so the locking query is one table's;
    a conversation without a channel, or a partner other than its package's, is read with it."""
    if sql.fast_path():
        found = sql.conversation_lock_row(conversation.pk)
    else:
        found = Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
    if found is None:
        raise ConversationNotFound()
    return _with_channel(found)


def _with_channel(found: Conversation) -> Conversation:
    """`found` with its channel (package, definition), tenant and partner from the channel cache."""
    channel = channel_cached(channel_id=found.channel_id) if found.channel_id else None
    if channel is None:
        found.tenant = Tenant.objects.get(pk=found.tenant_id)
        return found
    found.channel = channel
    found.tenant = channel.tenant
    package = channel.installation.package if channel.installation_id else None
    if package is not None and found.partner_id == package.partner_id:
        found.partner = package.partner
    return found


def message_append(conversation: Conversation, *, also_save: tuple[str, ...] = (), **fields) -> Message:
    """Add an entry at the end of the conversation. Precondition: the conversation row is locked.
    `also_save`: further conversation fields the caller changed, written by the same UPDATE."""
    conversation.last_seq += 1
    now = timezone.now()
    conversation.last_message_at = now
    conversation.save(update_fields=["last_seq", "last_message_at", "updated_at", *also_save])
    return Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        seq=conversation.last_seq,
        channel_address_id=conversation.channel_address_id,
        **fields,
    )


def message_append_publish(
    conversation: Conversation, *, agents, publish=None, also_save: tuple[str, ...] = (), **fields
) -> Message | None:
    """`message_append` and `message_publish` at once: the message, the conversation's counters and the
    message's events in one statement on PostgreSQL (conversations.sql), the ORM calls elsewhere.
    Precondition: the conversation row is locked. `agents`: its participants, read under the lock.
    `publish(message)`: publishes the message's events instead of `message_publish`; `also_save`: as
    for `message_append`.

    Returns None when the message's partner entry is stored already (a concurrent request won the
    unique index): then nothing was written and `conversation` is as it was."""
    if publish is None:

        def publish(message: Message) -> None:
            message_publish(conversation, message, agents=agents)

    if not sql.fast_path():
        try:
            with transaction.atomic():
                message = message_append(conversation, also_save=also_save, **fields)
        except IntegrityError:
            conversation.refresh_from_db(fields=["last_seq", "last_message_at", "updated_at"])
            return None
        publish(message)
        return message
    before = conversation.last_seq, conversation.last_message_at, conversation.updated_at
    now = timezone.now()
    conversation.last_seq += 1
    conversation.last_message_at = conversation.updated_at = now
    message = Message(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        seq=conversation.last_seq,
        channel_address_id=conversation.channel_address_id,
        **fields,
    )
    message.created_at = now  # what auto_now_add would write; the payload below carries it
    with events_deferred() as events:
        publish(message)
    inserted, event_ids = sql.message_with_events_insert(conversation, message, events, also_save=also_save)
    if not inserted:
        conversation.last_seq, conversation.last_message_at, conversation.updated_at = before
        return None
    mark_saved(message)
    events_written(events, event_ids)
    return message


def system_message(conversation: Conversation, text: str, agents, *, also_save: tuple[str, ...] = ()) -> Message:
    """A system line in the transcript (joined, transferred, …), to the agents only; with its
    counters and event in one statement on PostgreSQL."""

    message = message_append_publish(
        conversation,
        agents=agents,
        publish=lambda message: message_publish_to_agents(conversation, message, agents=agents),
        also_save=also_save,
        direction=Direction.SYSTEM,
        sender_type=SenderType.SYSTEM,
        text=text,
    )
    if message is None:  # cannot happen: a system message has no partner entry to conflict on
        raise Conflict("The conversation changed under us; retry.", code="conflict")
    return message


@dataclass(frozen=True)
class Opening:
    """What a request that has just opened a conversation knows, so that routing does not read it back:
    its session has no open work item yet, the first inbound message's text, and whether its contact
    was created by the same request (then it has no earlier conversations to prefer an agent from)."""

    new_contact: bool
    first_text: str | None = None


def open_session(conversation: Conversation) -> Session:
    session = Session.objects.filter(conversation=conversation, is_open=True).first()
    if session is None:
        session = Session.objects.create(tenant_id=conversation.tenant_id, conversation=conversation)
    return session


def session_open_item(session: Session) -> WorkItem | None:
    return open_work_item(tenant_id=session.tenant_id, reference=str(session.id))


def _first_text(conversation: Conversation) -> str:
    first = conversation.messages.filter(direction=Direction.INBOUND).order_by("seq").first()
    return (first.text if first else "")[:280]


def routing_attributes(conversation: Conversation, *, first_text: str | None = None) -> dict:
    """What a work item of this conversation carries. `first_text`: the first inbound message's text,
    when the caller has it (a conversation opened by this very message); otherwise it is read."""
    channel = conversation.channel
    return {
        "conversation_id": str(conversation.id),
        "contact_id": str(conversation.contact_id),
        "contact_name": conversation.contact.name or conversation.end_user_address,
        "end_user": conversation.end_user_address,
        "channel_address_id": conversation.channel_address_id,
        "channel_name": channel.name if channel else conversation.channel_address_id,
        "channel_type": channel.channel_type if channel else "messaging",
        "first_message": _first_text(conversation) if first_text is None else first_text[:280],
    }


def start_routing(
    conversation: Conversation,
    session: Session,
    *,
    queue_name: str | None = None,
    kind: str = "messaging_session",
    attributes: dict | None = None,
    opened: Opening | None = None,
) -> WorkItem | None:
    """Create the session's WorkItem (unless one is open): routed now, or asked of the partner.
    `kind` and `attributes`: what a voice call adds (kind voice_call, the call's id).
    `opened`: given by a caller that has just checked the session has no open work item; when this
    request opened the conversation it also carries the first text and whether the contact is new,
    so that none of it is read back."""
    if opened is None and session_open_item(session) is not None:
        return None
    queue = access_queue(tenant=conversation.tenant, name=queue_name) if queue_name else None
    previous = None
    if opened is None or not opened.new_contact:  # a contact created by this request has no history
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
        kind=kind,
        attributes={
            **routing_attributes(conversation, first_text=opened.first_text if opened else None),
            **(attributes or {}),
        },
        preferred_agent=Membership.objects.filter(pk=previous).first() if previous else None,
    )


def participant_require(conversation: Conversation, agent: Membership) -> None:
    if agent.pk not in active_agent_ids(conversation):
        raise NotAParticipant()


def session_of_work(work: AgentWork) -> Session | None:
    return Session.objects.select_related("conversation").filter(pk=parse_id(work.work_item.reference)).first()


def session_conversation_lock(work: AgentWork) -> tuple[Session | None, Conversation | None]:
    """The session of `work` and its conversation, locked as `conversation_lock` locks it (with its
    channel, tenant, partner and contact); (None, None) when the work names no session. One
    statement on PostgreSQL."""
    if not sql.fast_path():
        session = session_of_work(work)
        return (session, conversation_lock(session.conversation)) if session is not None else (None, None)
    session_id = parse_id(work.work_item.reference)
    found = sql.session_conversation_lock(session_id) if session_id is not None else None
    if found is None:
        return None, None
    session, conversation = found
    session.conversation = _with_channel(conversation)
    return session, session.conversation


def end_user_address_get_or_create(channel: Channel, address: str, name: str) -> EndUserAddress:
    """The end user's address on this channel (race-safe), with the name filled in if we had none."""
    return end_user_address_find_or_create(channel, address, name)[0]


def end_user_address_find_or_create(channel: Channel, address: str, name: str) -> tuple[EndUserAddress, bool]:
    """`end_user_address_get_or_create`, and whether this call created the address and its contact."""
    found = EndUserAddress.objects.select_related("contact").filter(channel=channel, address=address).first()
    if found is None:
        try:
            with transaction.atomic():
                contact = Contact.objects.create(tenant_id=channel.tenant_id, name=(name or "")[:200])
                created = EndUserAddress.objects.create(
                    tenant_id=channel.tenant_id, contact=contact, channel=channel, address=address
                )
            return created, True
        except IntegrityError:  # a concurrent first request created it
            found = EndUserAddress.objects.select_related("contact").get(channel=channel, address=address)
    if name and not found.contact.name:
        Contact.objects.filter(pk=found.contact_id).update(name=name[:200])
        found.contact.name = name[:200]
    return found, False


def open_conversation_lock(
    channel: Channel, address: str, *, partner: Partner | None = None, thread: str = ""
) -> Conversation | None:
    """The open conversation of this end user (and partner's thread key) on this channel, locked, with
    its contact; or None.

    `partner`: the caller's partner (the channel's package's), so that neither it nor the tenant
    (the channel's) is joined again into the locking query."""
    if partner is not None and sql.fast_path():
        found = sql.open_conversation_lock(channel.pk, address, thread, OPEN_STATUSES)
    else:
        query = Conversation.objects.select_for_update(of=("self",)).select_related("contact")
        if partner is None:
            query = query.select_related("tenant", "partner")
        found = query.filter(
            channel=channel, end_user_address=address, thread_key=thread, status__in=OPEN_STATUSES
        ).first()
    if found is not None:
        found.channel = channel  # the caller's instance, with its installation and package loaded
        if partner is not None:
            found.tenant = channel.tenant
            if found.partner_id == partner.pk:
                found.partner = partner
    return found


def conversation_open(
    channel: Channel, address: EndUserAddress, initiated_by: str, *, thread: str = "", partner: Partner | None = None
) -> tuple[Conversation, bool]:
    """The open conversation of this end user (and thread key) on this channel, created if none (race-safe).
    `partner`: the caller's partner (the channel's package's), as for `open_conversation_lock`."""
    conversation, session = conversation_open_session(channel, address, initiated_by, thread=thread, partner=partner)
    return conversation, session is not None


def conversation_open_session(
    channel: Channel,
    address: EndUserAddress,
    initiated_by: str,
    *,
    thread: str = "",
    partner: Partner | None = None,
    looked: bool = False,
) -> tuple[Conversation, Session | None]:
    """`conversation_open`, with the session it created (None when it found an open conversation).
    `looked`: the caller's `open_conversation_lock` just found none, so the first attempt inserts at
    once; a conversation opened concurrently since then fails the insert on the one-open-conversation
    constraint, and the next attempt locks that one."""
    for attempt in range(3):
        if attempt or not looked:
            found = open_conversation_lock(channel, address.address, partner=partner, thread=thread)
            if found is not None:
                return found, None
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
                    thread_key=thread,
                )
                session = Session.objects.create(tenant_id=channel.tenant_id, conversation=conversation)
            conversation.tenant = channel.tenant  # our own uncommitted row: nobody else can lock it yet
            # what routing and the events read next, already in memory: not read again
            conversation.contact = address.contact
            if partner is not None and partner.pk == conversation.partner_id:
                conversation.partner = partner
            return conversation, session
        except IntegrityError:
            continue  # someone else opened it first: use theirs
    raise Conflict("The conversation changed under us; retry.", code="conflict")


def conversation_close(*, conversation: Conversation, closed_by: str, agent: Membership | None = None) -> Conversation:
    """Close the conversation and its session; agents' work ends (into ACW when the channel has it)."""
    with transaction.atomic():
        conversation = conversation_lock(conversation)
        if not conversation.is_open:
            raise ConversationClosed()
        if agent is not None and agent.pk not in active_agent_ids(conversation):
            raise NotAParticipant()
        conversation_close_locked(conversation, closed_by=closed_by, agent=agent)
        return conversation


def conversation_close_locked(conversation: Conversation, *, closed_by: str, agent: Membership | None) -> None:
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
    if closed_by != "partner" and conversation.channel and conversation.channel.channel_type == "voice":
        call_hangup_on_close(conversation, agent=agent)
    by = agent.name if agent is not None else closed_by
    system_message(conversation, f"Conversation closed by {by}.", agents_before)
    sla_conversation_closed(conversation, at=now)
    conversation.status = ConversationStatus.CLOSED
    conversation.closed_at = now
    conversation.save(update_fields=["status", "closed_at", "updated_at"])
    conversation_publish(
        conversation,
        "conversation.closed",
        {**conversation_data(conversation), "closed_by": closed_by, "agent_id": str(agent.pk) if agent else None},
        agents=agents_before,
    )
