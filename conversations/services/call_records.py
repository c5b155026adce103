"""A voice call's payloads and publishing, and what accepting a call's offer does to the call.
Builds on `payloads`; used by `agent_actions` (accept) and `calls` (everything else)."""

from __future__ import annotations

from django.utils import timezone

from ccp.events.services import event_publish
from tenants.models import Membership

from ..call_states import CallAction, ControlStatus
from ..models import Call, CallControlRequest, CallEvent, Conversation
from .payloads import active_agent_ids, conversation_publish


def recording_data(call: Call) -> dict | None:
    if not call.recording_url:
        return None
    return {
        "url": call.recording_url,
        "duration_seconds": call.recording_duration_seconds,
        "content_type": call.recording_content_type,
        "paused": call.recording_paused,
    }


def call_data(call: Call) -> dict:
    """A call as partners and agents see it (GET /api/v1/calls/{call_id}/ and every call.* event)."""
    return {
        "id": str(call.id),
        "call_id": call.call_id,
        "conversation_id": str(call.conversation_id),
        "channel_address_id": call.conversation.channel_address_id,
        "direction": call.direction,
        "from": call.from_address,
        "from_name": call.from_name,
        "status": call.status,
        "end_reason": call.end_reason or None,
        "agent_id": str(call.agent_id) if call.agent_id else None,
        "started_at": call.started_at,
        "queued_at": call.queued_at,
        "ringing_at": call.ringing_at,
        "answered_at": call.answered_at,
        "ended_at": call.ended_at,
        "hold_seconds": call.hold_seconds,
        "talk_seconds": call.talk_seconds,
        "muted": call.muted,
        "recording_paused": call.recording_paused,
        "recording": recording_data(call),
    }


def control_data(request: CallControlRequest) -> dict:
    return {
        "request_id": str(request.id),
        "call_id": request.call.call_id,
        "conversation_id": str(request.call.conversation_id),
        "action": request.action,
        "target": request.target,
        "digits": request.digits,
        "status": request.status,
        "reason": request.reason,
        "agent_id": str(request.requested_by_id) if request.requested_by_id else None,
        "created_at": request.created_at,
        "completed_at": request.completed_at,
    }


def call_agents(call: Call) -> list:
    """Who hears about the call: the conversation's participants and the call's agent."""
    agents = active_agent_ids(call.conversation)
    if call.agent_id and call.agent_id not in agents:
        agents.append(call.agent_id)
    return agents


def call_publish(call: Call, type_: str, data: dict | None = None, *, partner: bool = True) -> None:
    conversation_publish(
        call.conversation, type_, {**call_data(call), **(data or {})}, partner=partner, agents=call_agents(call)
    )


def call_event_record(call: Call, type_: str, *, source: str, from_status: str = "", reason: str = "", data=None):
    return CallEvent.objects.create(
        tenant_id=call.tenant_id,
        call=call,
        type=type_,
        source=source,
        from_status=from_status,
        to_status=call.status,
        reason=reason[:300],
        data=data or {},
        at=timezone.now(),
    )


def control_create(
    call: Call, *, action: str, agent: Membership | None, target: dict | None = None, digits: str = ""
) -> CallControlRequest:
    """Record a control request and publish call.control_requested to the partner and the agents."""
    request = CallControlRequest.objects.create(
        tenant_id=call.tenant_id,
        call=call,
        action=action,
        target=target,
        digits=digits,
        requested_by=agent,
        status=ControlStatus.PENDING,
    )
    request.call = call
    event_publish(
        tenant=call.conversation.tenant,
        type="call.control_requested",
        data=control_data(request),
        partner=call.partner,
        agent_ids=call_agents(call),
        agents_checked=True,
    )
    return request


def call_for_conversation(conversation: Conversation) -> Call | None:
    """The conversation's live call, locked (a voice conversation has at most one at a time)."""
    return (
        Call.objects.select_for_update(of=("self",))
        .select_related("partner")
        .filter(conversation=conversation)
        .exclude(status="ended")
        .order_by("-queued_at")
        .first()
    )


def call_offer_accepted(conversation: Conversation, agent: Membership) -> None:
    """An agent accepted the offer of a voice conversation: they become the call's agent and the
    partner is asked to connect them (call.control_requested, action answer, target the agent).
    Precondition: the conversation row is locked. Nothing happens for a conversation with no call."""
    if conversation.channel is None or conversation.channel.channel_type != "voice":
        return
    call = call_for_conversation(conversation)
    if call is None:
        return
    call.conversation = conversation
    previous = call.agent_id
    call.agent = agent
    call.save(update_fields=["agent", "updated_at"])
    call_event_record(
        call, "agent_assigned", source="platform", from_status=call.status, data={"agent_id": str(agent.pk)}
    )
    control_create(call, action=CallAction.ANSWER, agent=agent, target={"agent_id": str(agent.pk)})
    if previous != agent.pk:
        call_publish(call, "call.state_changed", {"previous_status": call.status})


def call_hangup_on_close(conversation: Conversation, *, agent: Membership | None) -> None:
    """A voice conversation closed on ccp's side (an agent, an uninstall) while its call is live: the
    partner is asked to hang up (call.control_requested, action hangup). Precondition: the
    conversation row is locked."""
    call = call_for_conversation(conversation)
    if call is None:
        return
    call.conversation = conversation
    control_create(call, action=CallAction.HANGUP, agent=agent)
