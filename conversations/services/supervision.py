"""What supervisors do to live conversations — monitor, whisper, barge in (join), reassign, set an
agent's presence — and the internal notes of a conversation's agents. Every supervisor action is
written to the audit log (ccp.audit) in the same transaction as its effect.

Notes and whispers are never Messages and never events of the bus: they are stored as `Note` rows and
pushed to the conversation's current agents and monitoring supervisors as websocket frames outside
the outbox (`push_frames_on_commit`), so no partner webhook, replay or stream can carry them, and the
end user's history (the partner's messages list) never holds them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from ccp.audit.services import audit_record
from ccp.core.errors import Conflict, Invalid
from ccp.events.services import agent_group, monitor_group, push_frames_on_commit
from routing import services as routing
from routing.choices import WorkItemStatus
from routing.selectors import access_agent, access_queue, offered_work, pending_transfer_item
from tenants.choices import Role
from tenants.models import Membership

from ..errors import ConversationClosed, ConversationNotFound, SupervisorOnly
from ..models import Conversation, Note, Participant
from .lifecycle import conversation_lock, open_session, routing_attributes, session_open_item, system_message
from .payloads import active_agent_ids

SUPERVISING_ROLES = (Role.SUPERVISOR, Role.ADMIN)


def _require_supervisor(membership: Membership) -> None:
    if membership.role not in SUPERVISING_ROLES:
        raise SupervisorOnly()


def _conversation_ref(conversation: Conversation) -> dict:
    return {"object_type": "conversations.conversation", "object_id": str(conversation.pk)}


# --- notes and whispers ---------------------------------------------------------------------------


def note_data(note: Note) -> dict:
    return {
        "id": str(note.id),
        "conversation_id": str(note.conversation_id),
        "kind": "whisper" if note.whisper else "note",
        "whisper": note.whisper,
        "text": note.text,
        "author_id": str(note.author_id) if note.author_id else None,
        "author_name": note.author_name,
        "author_role": note.author_role,
        "after_seq": note.after_seq,
        "created_at": note.created_at,
    }


def note_create(*, author: Membership, conversation: Conversation, text: str, whisper: bool = False) -> Note:
    """An internal note (any agent of the conversation, or a supervisor) or a whisper (a supervisor
    to the conversation's agents). The caller has checked that `author` may read the conversation."""
    if not isinstance(text, str) or not text.strip() or len(text) > settings.MESSAGE_MAX_CHARS:
        raise Invalid(
            "The note cannot be saved; see details.",
            details={"text": [f"write 1 to {settings.MESSAGE_MAX_CHARS} characters"]},
        )
    if whisper and author.role not in SUPERVISING_ROLES:
        raise SupervisorOnly("Only a supervisor or tenant admin whispers; write an internal note instead.")
    with transaction.atomic():
        note = Note.objects.create(
            tenant_id=conversation.tenant_id,
            conversation=conversation,
            author=author,
            author_name=author.name,
            author_role=author.role,
            text=text,
            whisper=bool(whisper),
            after_seq=Conversation.objects.filter(pk=conversation.pk).values_list("last_seq", flat=True).first() or 0,
        )
        if author.role in SUPERVISING_ROLES:
            audit_record(
                action="conversation.whisper" if whisper else "conversation.note",
                tenant=author.tenant,
                **_conversation_ref(conversation),
                object_repr=f"conversation {str(conversation.pk)[:8]}",
                after={"note_id": str(note.id), "whisper": bool(whisper), "chars": len(text)},
            )
        frame = {"type": "note.created", "data": note_data(note)}
        audience = {str(a) for a in active_agent_ids(conversation)} | {str(author.pk)}
        push_frames_on_commit(
            [(agent_group(a), frame) for a in sorted(audience)] + [(monitor_group(conversation.pk), frame)]
        )
    return note


def conversation_notes(*, conversation: Conversation):
    return Note.objects.filter(conversation=conversation).order_by("created_at")


# --- monitor --------------------------------------------------------------------------------------


def conversation_monitor(*, supervisor: Membership, conversation: Conversation, source: str = "api") -> dict:
    """Start a silent monitor: the supervisor's sockets join the conversation's monitor group
    (read-only: they receive its events; acting needs joining). When the tenant says so
    (`Tenant.notify_agent_on_monitor`), the conversation's agents are told."""
    _require_supervisor(supervisor)
    if not conversation.is_open:
        raise ConversationClosed("This conversation is closed; read its transcript instead.")
    notify = bool(supervisor.tenant.notify_agent_on_monitor)
    with transaction.atomic():
        audit_record(
            action="conversation.monitor",
            tenant=supervisor.tenant,
            **_conversation_ref(conversation),
            object_repr=f"conversation {str(conversation.pk)[:8]}",
            after={"agents_notified": notify, "source": source},
        )
        frames: list[tuple[str, dict]] = []
        if source == "api":
            frames.append(
                (agent_group(supervisor.pk), {"type": "ccp.monitor", "conversation_id": str(conversation.pk)})
            )
        if notify:
            notice = {
                "type": "monitor.notice",
                "data": {
                    "conversation_id": str(conversation.pk),
                    "supervisor_id": str(supervisor.pk),
                    "supervisor_name": supervisor.name,
                },
            }
            frames += [(agent_group(a), {"type": "ccp.frame", "frame": notice}) for a in active_agent_ids(conversation)]
        _push_raw_on_commit(frames)
    return {"conversation_id": str(conversation.pk), "monitoring": True, "agents_notified": notify}


def _push_raw_on_commit(messages: list[tuple[str, dict]]) -> None:
    """Channel-layer messages (already typed) to groups after commit; `ccp.frame` ones are unwrapped."""
    frames = [(g, m["frame"]) for g, m in messages if m["type"] == "ccp.frame"]
    push_frames_on_commit(frames)
    others = [(g, m) for g, m in messages if m["type"] != "ccp.frame"]
    if others:
        from ccp.events.services.push import push_messages_on_commit

        push_messages_on_commit(others)


def may_monitor(*, membership_id) -> bool:
    return Membership.objects.filter(pk=membership_id, role__in=SUPERVISING_ROLES).exists()


def monitor_subscription_check(*, membership_id, conversation_id) -> tuple[str, str] | None:
    """The websocket's {"type": "monitor"} frame: None when `membership_id` may monitor the
    conversation (and the start is recorded), else the refusal (code, sentence)."""
    from ccp.core.ids import parse_id

    membership = Membership.objects.select_related("tenant", "user").filter(pk=membership_id).first()
    if membership is None or membership.role not in SUPERVISING_ROLES:
        return (SupervisorOnly.code, SupervisorOnly.default_message)
    try:
        conversation = Conversation.objects.filter(pk=parse_id(conversation_id), tenant=membership.tenant).first()
    except Exception:
        conversation = None
    if conversation is None:
        return (ConversationNotFound.code, ConversationNotFound.default_message)
    try:
        conversation_monitor(supervisor=membership, conversation=conversation, source="websocket")
    except ConversationClosed as exc:
        return (exc.code, exc.message)
    return None


# --- barge in -------------------------------------------------------------------------------------


def conversation_join(*, supervisor: Membership, conversation: Conversation) -> Conversation:
    """Barge in: the supervisor becomes a participant (without work or capacity); their messages go
    to the end user through the one outbound path, labelled as the supervisor's."""
    _require_supervisor(supervisor)
    with transaction.atomic():
        conversation = conversation_lock(conversation)
        if not conversation.is_open:
            raise ConversationClosed()
        agents = active_agent_ids(conversation)
        if supervisor.pk in agents:
            return conversation
        Participant.objects.create(tenant_id=conversation.tenant_id, conversation=conversation, agent=supervisor)
        system_message(conversation, f"{supervisor.name} (supervisor) joined.", [*agents, supervisor.pk])
        audit_record(
            action="conversation.join",
            tenant=supervisor.tenant,
            **_conversation_ref(conversation),
            object_repr=f"conversation {str(conversation.pk)[:8]}",
            before={"agents": [str(a) for a in agents]},
            after={"agents": [*(str(a) for a in agents), str(supervisor.pk)]},
        )
        return conversation


def is_barged_in(*, membership: Membership, conversation: Conversation) -> bool:
    """A supervisor taking part without work of their own (joined by barging in)."""
    return (
        membership.role in SUPERVISING_ROLES
        and Participant.objects.filter(
            conversation=conversation, agent=membership, left_at__isnull=True, work__isnull=True
        ).exists()
    )


# --- reassign -------------------------------------------------------------------------------------


def conversation_reassign(
    *, supervisor: Membership, conversation: Conversation, agent_id=None, queue: str | None = None
) -> dict:
    """Move a live conversation to another agent (offered to them now, within their capacity: 409
    agent_unavailable / capacity_exhausted otherwise) or a queue (routed there, its current agents
    excluded). The current agents keep it until the new one accepts, as with a transfer; a
    conversation still waiting for an agent has its waiting work withdrawn first."""
    _require_supervisor(supervisor)
    if sum(x is not None and x != "" for x in (agent_id, queue)) != 1:
        raise Invalid(
            "Give exactly one of agent_id or queue.",
            details={"agent_id": ["give exactly one of agent_id, queue"]},
        )
    with transaction.atomic():
        conversation = conversation_lock(conversation)
        if not conversation.is_open:
            raise ConversationClosed()
        session = open_session(conversation)
        if pending_transfer_item(tenant_id=conversation.tenant_id, reference=str(session.id)) is not None:
            raise Conflict("A transfer of this conversation is already under way.", code="transfer_in_progress")
        current = active_agent_ids(conversation)  # they keep it until the new agent accepts
        target = access_agent(tenant=conversation.tenant, agent_id=agent_id) if agent_id else None
        queue_obj = access_queue(tenant=conversation.tenant, name=queue) if queue else None
        if target is not None and target.pk in current:
            raise Invalid(
                f"{target.name} already handles this conversation.", details={"agent_id": ["already handles it"]}
            )
        waiting = session_open_item(session)
        is_transfer = bool(current)
        if waiting is not None and waiting.status in (WorkItemStatus.QUEUED, WorkItemStatus.OFFERED):
            routing.work_item_cancel(work_item=waiting, reason="reassigned by a supervisor")
        attributes = {
            **routing_attributes(conversation),
            "transfer_from": str(supervisor.pk),
            "transfer_from_name": supervisor.name,
            "reassigned_by": str(supervisor.pk),
        }
        channel_type = conversation.channel.channel_type if conversation.channel else "messaging"
        if target is not None:
            item, work = routing.work_item_offer_direct(
                tenant=conversation.tenant,
                reference=str(session.id),
                agent_id=target.pk,
                channel_type=channel_type,
                partner=conversation.partner,
                attributes=attributes,
                is_transfer=is_transfer,
            )
        else:
            item = routing.work_item_create(
                tenant=conversation.tenant,
                reference=str(session.id),
                channel_type=channel_type,
                partner=conversation.partner,
                queue=queue_obj,
                attributes=attributes,
                is_transfer=is_transfer,
                excluded_agents=current,
            )
            work = offered_work(work_item=item)
        where = target.name if target is not None else f"the {queue_obj.name} queue"
        system_message(
            conversation, f"{supervisor.name} (supervisor) reassigned this conversation to {where}.", current
        )
        audit_record(
            action="conversation.reassign",
            tenant=supervisor.tenant,
            **_conversation_ref(conversation),
            object_repr=f"conversation {str(conversation.pk)[:8]}",
            before={"agents": [str(a) for a in current]},
            after={"agent_id": str(target.pk) if target else None, "queue": queue_obj.name if queue_obj else None},
        )
        return {"work_item_id": str(item.id), "status": item.status, "work_id": str(work.id) if work else None}


# --- presence -------------------------------------------------------------------------------------


def agent_presence_set_by_supervisor(*, supervisor: Membership, agent: Membership, status: str):
    """A supervisor sets an agent's presence (e.g. forces them away); recorded in the audit log."""
    from routing.selectors import presence_for

    _require_supervisor(supervisor)
    with transaction.atomic():
        before = presence_for(membership=agent).status
        presence = routing.presence_set(membership=agent, status=status, source="supervisor")
        audit_record(
            action="agent.status_set",
            tenant=supervisor.tenant,
            obj=agent,
            object_repr=agent.name,
            before={"status": before},
            after={"status": presence.status},
        )
    return presence
