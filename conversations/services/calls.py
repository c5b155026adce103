"""Voice calls (PARTNER_API.md "Voice calls"): the partner creates a call and reports its events,
transcript and control results; agents request controls and place calls. A call is routed as its
conversation's session (kind `voice_call`, the agent's `voice` capacity); its end closes the
conversation, which ends the agent's work into after-call work or — before anyone accepted —
cancels the work item and rescinds its offers (the call is abandoned).

Lock order: the conversation, then the call (then routing's rows, see routing/services).
"""

from __future__ import annotations

import re
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ccp.core.errors import Invalid
from ccp.core.ids import parse_id
from ccp.events.services import event_publish
from ccp.packages.models import Partner
from routing import services as routing
from tenants.models import Channel, Membership
from tenants.selectors import channel_for_partner

from ..call_states import (
    ACTIONS,
    EVENT_TYPES,
    LIVE,
    NEEDS_DIGITS,
    NEEDS_TARGET,
    CallAction,
    CallDirection,
    CallEndReason,
    CallStatus,
    ControlStatus,
    Speaker,
    action_allowed,
    next_status,
)
from ..choices import ConversationStatus, Direction, MessageStatus, SenderType
from ..errors import (
    ChannelInactive,
    ControlRequestNotFound,
    InstallationInactive,
    InvalidCallAction,
    InvalidCallTransition,
    NotAParticipant,
    NotAVoiceChannel,
)
from ..models import Call, CallControlRequest, CallEvent, Conversation, Participant, TranscriptSegment
from .agent_actions import conversation_transfer
from .call_records import (
    call_agents,
    call_data,
    call_event_record,
    call_publish,
    control_create,
    control_data,
)
from .lifecycle import (
    conversation_close_locked,
    conversation_lock,
    conversation_open,
    end_user_address_get_or_create,
    message_append,
    open_conversation_lock,
    open_session,
    routing_attributes,
    start_routing,
)
from .outbound import outbound_channel, outbound_consent_require, outbound_conversation_open
from .payloads import active_agent_ids, conversation_data, conversation_publish, message_publish_to_agents

MAX_SEGMENTS = 100
DTMF_RE = re.compile(r"^[0-9*#A-Da-d]{1,64}$")


def _time(value, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        raise Invalid(
            f"{field} must be an ISO 8601 time with a zone.",
            details={field: ["must be an ISO 8601 time with a zone, e.g. 2026-11-25T10:00:00Z"]},
        )
    return parsed


def _text(value, field: str, *, max_length: int, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_length:
        raise Invalid(f"{field} must be text of 1 to {max_length} characters.", details={field: ["is required"]})
    return value


def _voice_channel(channel: Channel) -> Channel:
    if channel.channel_type != "voice":
        raise NotAVoiceChannel(details={"channel_type": channel.channel_type})
    if channel.installation_id and not channel.installation.is_active:
        raise InstallationInactive()
    if not channel.is_active:
        raise ChannelInactive()
    return channel


# --- the partner: create, events, transcript, control results -----------------------------------


def call_create_body(call: Call) -> dict:
    """The 201 (and its repeat's 200) body: the call as it was created."""
    return {"call_id": call.call_id, "conversation_id": str(call.conversation_id), "status": CallStatus.QUEUED}


def call_create(
    *,
    partner: Partner,
    to: str,
    from_address: str,
    call_id: str,
    from_name: str = "",
    direction: str = CallDirection.INBOUND,
    started_at=None,
) -> tuple[Call, bool]:
    """A call arrives at a call center: its conversation (opened or reused), the call record and
    routing unless an agent already holds the conversation. Idempotent on the partner's call_id:
    a repeat returns the first call and False."""
    call_id = _text(call_id, "call_id", max_length=200)
    from_address = _text(from_address, "from", max_length=300)
    from_name = _text(from_name, "from_name", max_length=200, required=False)
    if direction not in CallDirection.values:
        raise Invalid("direction must be inbound or outbound.", details={"direction": ["inbound or outbound"]})
    started = _time(started_at, "started_at")
    existing = Call.objects.filter(partner=partner, call_id=call_id).first()
    if existing is not None:
        return existing, False
    channel = _voice_channel(channel_for_partner(partner=partner, channel_address_id=_text(to, "to", max_length=200)))
    try:
        with transaction.atomic():
            return _create(channel, partner, call_id, from_address, from_name, direction, started), True
    except IntegrityError:  # the same call_id in a concurrent request won
        found = Call.objects.filter(partner=partner, call_id=call_id).first()
        if found is None:
            raise
        return found, False


def _create(channel, partner, call_id, from_address, from_name, direction, started) -> Call:
    conversation, created = open_conversation_lock(channel, from_address, partner=partner), False
    if conversation is None:
        address = end_user_address_get_or_create(channel, from_address, from_name)
        conversation, created = conversation_open(channel, address, SenderType.END_USER, partner=partner)
    session = open_session(conversation)
    held = active_agent_ids(conversation)
    call = Call.objects.create(
        tenant_id=conversation.tenant_id,
        partner=partner,
        conversation=conversation,
        session=session,
        call_id=call_id,
        direction=direction,
        from_address=from_address,
        from_name=from_name[:200],
        started_at=started,
        agent_id=held[0] if held else None,
    )
    call.conversation = conversation
    call_event_record(call, "created", source="partner")
    if created:
        conversation_publish(
            conversation, "conversation.created", {**conversation_data(conversation), "initiated_by": "end_user"}
        )
    call_publish(call, "call.created")
    if not held:
        start_routing(
            conversation,
            session,
            kind="voice_call",
            attributes={"call_id": call.call_id, "call_direction": direction, "caller_name": from_name[:200]},
        )
    return call


def call_event_receive(*, call: Call, event_id, type: str, at=None, reason=None, recording=None) -> dict:
    """Apply a partner's call event through the state machine (idempotent on the event id)."""
    event_id = _text(event_id, "id", max_length=200)
    if type not in EVENT_TYPES:
        raise Invalid(f"type must be one of {', '.join(EVENT_TYPES)}.", details={"type": list(EVENT_TYPES)})
    when = _time(at, "at") or timezone.now()
    reason = _text(reason, "reason", max_length=300, required=False)
    if type == "ended" and reason and reason not in CallEndReason.values:
        raise Invalid(
            f"reason must be one of {', '.join(CallEndReason.values)}.", details={"reason": CallEndReason.values}
        )
    rec = _recording(recording, required=type == "recording_ready")
    with transaction.atomic():
        conversation = conversation_lock(call.conversation)
        call = Call.objects.select_for_update(of=("self",)).select_related("partner").get(pk=call.pk)
        call.conversation = conversation
        if CallEvent.objects.filter(call=call, partner_event_id=event_id).exists():
            return {"id": event_id, "status": call.status, "duplicate": True}
        before = call.status
        after = next_status(before, type)
        if after is None:
            raise InvalidCallTransition(
                f"A call that is {before} cannot take a {type!r} event.",
                details={"status": before, "type": type},
            )
        _apply(call, type, before, after, when, reason, rec)
        try:
            with transaction.atomic():
                CallEvent.objects.create(
                    tenant_id=call.tenant_id,
                    call=call,
                    partner_event_id=event_id,
                    type=type,
                    source="partner",
                    from_status=before,
                    to_status=after,
                    reason=call.end_reason if type == "ended" else reason,
                    data={"recording": rec} if rec else {},
                    at=when,
                )
        except IntegrityError:  # impossible under the call's lock; kept as the constraint's answer
            return {"id": event_id, "status": call.status, "duplicate": True}
        _announce(call, conversation, type, before, after, rec)
        return {"id": event_id, "status": call.status, "duplicate": False}


def _recording(value, *, required: bool) -> dict | None:
    if value is None and not required:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("url"), str):
        raise Invalid("recording needs a url.", details={"recording.url": ["is required"]})
    url = value["url"]
    if not url.startswith(("https://", "http://")) or len(url) > 1000:
        raise Invalid("recording.url must be an http(s) URL.", details={"recording.url": ["must be http(s)"]})
    duration = value.get("duration_seconds")
    if duration is not None and (not isinstance(duration, int) or isinstance(duration, bool) or duration < 0):
        raise Invalid("duration_seconds must be a whole number.", details={"recording.duration_seconds": [">= 0"]})
    content_type = value.get("content_type") or ""
    if not isinstance(content_type, str) or len(content_type) > 100:
        raise Invalid("content_type must be a media type.", details={"recording.content_type": ["e.g. audio/wav"]})
    return {"url": url, "duration_seconds": duration, "content_type": content_type}


def _seconds(start, end) -> int:
    return max(0, int((end - start).total_seconds())) if start and end else 0


def _apply(call: Call, type_: str, before: str, after: str, when, reason: str, rec: dict | None) -> None:
    call.status = after
    if type_ == "ringing":
        call.ringing_at = when
    elif type_ == "connected":
        call.answered_at = call.answered_at or when
    elif type_ == "held":
        call.held_since = when
    elif type_ == "resumed":
        call.hold_seconds += _seconds(call.held_since, when)
        call.held_since = None
    elif type_ == "ended":
        if before == CallStatus.ON_HOLD:
            call.hold_seconds += _seconds(call.held_since, when)
            call.held_since = None
        call.ended_at = when
        call.end_reason = _end_reason(call, reason)
        call.talk_seconds = max(0, _seconds(call.answered_at, when) - call.hold_seconds) if call.answered_at else 0
    if rec is not None:
        call.recording_url = rec["url"]
        call.recording_duration_seconds = rec["duration_seconds"]
        call.recording_content_type = rec["content_type"]
    call.save()


def _end_reason(call: Call, reason: str) -> str:
    """A call no agent accepted is abandoned — unless the partner says it failed or went unanswered."""
    if call.agent_id is None and reason in ("", CallEndReason.COMPLETED, CallEndReason.ABANDONED):
        return CallEndReason.ABANDONED
    return reason or CallEndReason.COMPLETED


def _announce(call: Call, conversation: Conversation, type_: str, before: str, after: str, rec) -> None:
    if before != after:
        call_publish(call, "call.state_changed", {"previous_status": before})
    if rec is not None:
        call_publish(call, "call.recording_ready")
    if type_ == "ended":
        call_publish(call, "call.ended")
        if conversation.is_open:
            # Closing ends the work: accepted → after-call work; unanswered offers are rescinded and
            # the work item cancelled, so an abandoned call is never offered again.
            conversation_close_locked(conversation, closed_by="partner", agent=None)
        _settle_controls_at_end(call)


def _settle_controls_at_end(call: Call) -> None:
    """The call ended: a pending hang-up happened; any other pending control can no longer."""
    pending = CallControlRequest.objects.filter(call=call, status=ControlStatus.PENDING).select_related("call")
    for request in pending:
        done = request.action == CallAction.HANGUP
        request.status = ControlStatus.DONE if done else ControlStatus.FAILED
        request.reason = "" if done else "the call ended"
        request.completed_at = timezone.now()
        request.save(update_fields=["status", "reason", "completed_at"])
        request.call = call
        event_publish(
            tenant=call.conversation.tenant,
            type="call.control_completed",
            data=control_data(request),
            partner=None,
            agent_ids=call_agents(call),
            agents_checked=True,
        )


def call_transcript_receive(*, call: Call, segments) -> list[dict]:
    """Store transcript segments (idempotent on their id; a final one replaces its interim one),
    push each to the agents, and add final ones to the conversation's history."""
    parsed = _parse_segments(segments)
    with transaction.atomic():
        conversation = conversation_lock(call.conversation)
        call = Call.objects.select_for_update(of=("self",)).select_related("partner").get(pk=call.pk)
        call.conversation = conversation
        agents = call_agents(call)
        existing = {s.segment_id: s for s in TranscriptSegment.objects.filter(call=call, segment_id__in=parsed)}
        results = []
        for segment_id, values in parsed.items():
            segment = existing.get(segment_id)
            if segment is not None and (segment.final or segment_fields(segment) == values):
                results.append({"id": segment_id, "final": segment.final, "duplicate": True})
                continue
            if segment is None:
                segment = TranscriptSegment(tenant_id=call.tenant_id, call=call, segment_id=segment_id)
            for name, value in values.items():
                setattr(segment, name, value)
            if segment.final:
                segment.message = _history_entry(conversation, call, segment, agents)
            segment.save()
            event_publish(
                tenant=conversation.tenant,
                type="transcript.segment",
                data=segment_data(call, segment),
                partner=call.partner,
                agent_ids=agents,
                agents_checked=True,
            )
            results.append({"id": segment_id, "final": segment.final, "duplicate": False})
        return results


def segment_fields(segment: TranscriptSegment) -> dict:
    return {
        "speaker": segment.speaker,
        "text": segment.text,
        "start_ms": segment.start_ms,
        "end_ms": segment.end_ms,
        "final": segment.final,
    }


def segment_data(call: Call, segment: TranscriptSegment) -> dict:
    return {
        "call_id": call.call_id,
        "conversation_id": str(call.conversation_id),
        "id": segment.segment_id,
        **segment_fields(segment),
        "message_id": str(segment.message_id) if segment.message_id else None,
    }


def _parse_segments(raw) -> dict[str, dict]:
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_SEGMENTS:
        raise Invalid(
            f"segments must be a list of 1 to {MAX_SEGMENTS} segments.",
            details={"segments": ["must be a non-empty list"]},
        )
    problems: dict[str, list[str]] = {}
    out: dict[str, dict] = {}
    for i, item in enumerate(raw):
        where = f"segments[{i}]"
        if not isinstance(item, dict):
            problems[where] = ["must be an object"]
            continue
        segment_id, text, speaker = item.get("id"), item.get("text"), item.get("speaker")
        if not isinstance(segment_id, str) or not 0 < len(segment_id) <= 200:
            problems[f"{where}.id"] = ["is required: a string of 1 to 200 characters"]
        if speaker not in Speaker.values:
            problems[f"{where}.speaker"] = ["must be end_user or agent"]
        if not isinstance(text, str) or len(text) > settings.MESSAGE_MAX_CHARS:
            problems[f"{where}.text"] = [f"must be text of at most {settings.MESSAGE_MAX_CHARS} characters"]
        offsets = {}
        for name in ("start_ms", "end_ms"):
            value = item.get(name, 0)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
                problems[f"{where}.{name}"] = ["must be a whole number of milliseconds"]
            offsets[name] = value
        final = item.get("final", False)
        if not isinstance(final, bool):
            problems[f"{where}.final"] = ["must be true or false"]
        if f"{where}.id" not in problems and where not in problems:
            out[segment_id] = {"speaker": speaker, "text": text, **offsets, "final": final}
    if problems:
        raise Invalid(f"{len(problems)} segment problem(s); see details.", details=problems)
    return out


def _history_entry(conversation: Conversation, call: Call, segment: TranscriptSegment, agents):
    """A final segment as an entry of the conversation's history (searchable, summarised); for agents only."""
    by_agent = segment.speaker == Speaker.AGENT
    agent = call.agent if by_agent else None
    message = message_append(
        conversation,
        session=call.session,
        direction=Direction.OUTBOUND if by_agent else Direction.INBOUND,
        sender_type=SenderType.AGENT if by_agent else SenderType.END_USER,
        sender_name=(agent.name if agent else "Agent") if by_agent else (call.from_name or call.from_address),
        agent=agent,
        text=segment.text,
        status=MessageStatus.RECEIVED,
    )
    message_publish_to_agents(conversation, message, agents=agents)
    return message


def call_control_result(*, call: Call, request_id, status: str, reason=None) -> CallControlRequest:
    """The partner reports how a control went; the agents see it (call.control_completed)."""
    if status not in (ControlStatus.DONE, ControlStatus.FAILED):
        raise Invalid("status must be done or failed.", details={"status": ["done or failed"]})
    reason = _text(reason, "reason", max_length=300, required=False)
    with transaction.atomic():
        conversation = conversation_lock(call.conversation)
        call = Call.objects.select_for_update(of=("self",)).select_related("partner").get(pk=call.pk)
        call.conversation = conversation
        request = CallControlRequest.objects.select_for_update().filter(call=call, pk=parse_id(request_id)).first()
        if request is None:
            raise ControlRequestNotFound()
        request.call = call
        if request.status != ControlStatus.PENDING:
            return request  # a repeated report: the first one stands
        request.status = status
        request.reason = reason
        request.completed_at = timezone.now()
        request.save(update_fields=["status", "reason", "completed_at"])
        if status == ControlStatus.DONE:
            _control_effect(call, request)
        call_event_record(
            call,
            f"control_{status}",
            source="partner",
            from_status=call.status,
            reason=reason,
            data={"request_id": str(request.id), "action": request.action},
        )
        event_publish(
            tenant=conversation.tenant,
            type="call.control_completed",
            data=control_data(request),
            partner=None,
            agent_ids=call_agents(call),
            agents_checked=True,
        )
        return request


def _control_effect(call: Call, request: CallControlRequest) -> None:
    """What a done control changes in the record (hold and hang-up come as the partner's events)."""
    fields = {
        CallAction.MUTE: ("muted", True),
        CallAction.UNMUTE: ("muted", False),
        CallAction.PAUSE_RECORDING: ("recording_paused", True),
        CallAction.RESUME_RECORDING: ("recording_paused", False),
    }
    if request.action in fields:
        name, value = fields[request.action]
        setattr(call, name, value)
        call.save(update_fields=[name, "updated_at"])
        call_publish(call, "call.state_changed", {"previous_status": call.status})


# --- the agent: controls and placing calls ------------------------------------------------------


def _target(action: str, target) -> dict | None:
    if action not in NEEDS_TARGET:
        return None
    given = {k: v for k, v in (target or {}).items() if v not in (None, "")} if isinstance(target, dict) else {}
    keys = [k for k in ("agent_id", "queue", "address") if k in given]
    if len(keys) != 1 or set(given) != set(keys) or not isinstance(given[keys[0]], str) or len(given[keys[0]]) > 300:
        raise Invalid(
            'target must be exactly one of {"agent_id"}, {"queue"} or {"address"}.',
            details={"target": ["give exactly one of agent_id, queue, address"]},
        )
    return {keys[0]: given[keys[0]]}


def call_control_request(*, agent: Membership, call: Call, action: str, target=None, digits=None) -> CallControlRequest:
    """An agent asks for a call control; the partner carries it out and reports the result."""
    if action not in ACTIONS:
        raise Invalid(
            f"action must be one of {', '.join(a for a in ACTIONS if a != CallAction.DIAL)}.",
            details={"action": [a for a in ACTIONS if a != CallAction.DIAL]},
        )
    clean_target = _target(action, target)
    clean_digits = ""
    if action in NEEDS_DIGITS:
        if not isinstance(digits, str) or not DTMF_RE.match(digits):
            raise Invalid("digits must be 1 to 64 of 0-9 * # A-D.", details={"digits": ["e.g. 1234#"]})
        clean_digits = digits
    with transaction.atomic():
        conversation = conversation_lock(call.conversation)
        call = Call.objects.select_for_update(of=("self",)).select_related("partner").get(pk=call.pk)
        call.conversation = conversation
        if agent.pk != call.agent_id and agent.pk not in active_agent_ids(conversation):
            raise NotAParticipant("You are not on this call.")
        if not action_allowed(call.status, action):
            raise InvalidCallAction(
                f"A call that is {call.status} does not allow {action}.",
                details={"status": call.status, "action": action},
            )
        if action == CallAction.TRANSFER and "address" not in clean_target:
            conversation_transfer(
                agent=agent,
                conversation=conversation,
                to_agent_id=clean_target.get("agent_id"),
                queue=clean_target.get("queue"),
            )
        return control_create(call, action=action, agent=agent, target=clean_target, digits=clean_digits)


def call_dial(*, agent: Membership, channel_address_id: str, address: str) -> tuple[Call, CallControlRequest]:
    """An agent places a call: consent first (the one outbound gate), then the conversation the agent
    holds with voice capacity, the call record and call.control_requested (action dial) to the partner.
    Refused consent raises ConsentDenied and nothing is stored."""
    address = _text(address.strip() if isinstance(address, str) else address, "address", max_length=300)
    channel_address_id = _text(channel_address_id, "channel_address_id", max_length=200)
    channel = outbound_channel(agent=agent, channel_address_id=channel_address_id)
    _voice_channel(channel)
    if channel.installation_id is None:
        raise NotAVoiceChannel("This call center has no telephony partner to place the call.")
    with transaction.atomic():
        conversation = outbound_conversation_open(agent=agent, channel=channel, address=address, on="call center")
        outbound_consent_require(conversation, sender_type=SenderType.AGENT)
        session = open_session(conversation)
        call = Call.objects.create(
            tenant_id=conversation.tenant_id,
            partner_id=conversation.partner_id,
            conversation=conversation,
            session=session,
            call_id="",
            direction=CallDirection.OUTBOUND,
            from_address=address,
            agent=agent,
        )
        call.call_id = f"ccp-{call.id}"
        call.save(update_fields=["call_id"])
        call.conversation = conversation
        _item, offer = routing.work_item_offer_direct(
            tenant=conversation.tenant,
            reference=str(session.id),
            agent_id=agent.pk,
            kind="voice_call",
            channel_type="voice",
            partner=conversation.partner,
            attributes={**routing_attributes(conversation), "outbound": True, "call_id": call.call_id},
        )
        work = routing.work_accept(work=offer)
        Participant.objects.create(tenant_id=conversation.tenant_id, conversation=conversation, agent=agent, work=work)
        conversation.status = ConversationStatus.ACTIVE
        conversation.save(update_fields=["status", "updated_at"])
        call_event_record(call, "created", source="agent")
        conversation_publish(
            conversation, "conversation.created", {**conversation_data(conversation), "initiated_by": "agent"}
        )
        call_publish(call, "call.created")
        request = control_create(call, action=CallAction.DIAL, agent=agent, target={"address": address})
        return call, request


def call_detail(*, call: Call) -> dict:
    """A call with its control requests (the agent's call panel)."""
    controls = [control_data(c) for c in CallControlRequest.objects.filter(call=call).select_related("call")]
    return {**call_data(call), "live": call.status in LIVE, "controls": controls}
