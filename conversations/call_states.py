"""A voice call's states, the partner's events that move it, and the agent's controls each state
allows — the one table of the call state machine (PARTNER_API.md, "Voice calls"). Pure: no database.

    queued → ringing → connected ⇄ on_hold → ended   (and any state before ended → ended)
"""

from __future__ import annotations

from django.db import models


class CallStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RINGING = "ringing", "Ringing"
    CONNECTED = "connected", "Connected"
    ON_HOLD = "on_hold", "On hold"
    ENDED = "ended", "Ended"


class CallDirection(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class CallEndReason(models.TextChoices):
    COMPLETED = "completed", "Completed"
    ABANDONED = "abandoned", "Abandoned (ended before an agent accepted)"
    NO_ANSWER = "no_answer", "No answer"
    FAILED = "failed", "Failed"
    TRANSFERRED = "transferred", "Transferred away"


class CallAction(models.TextChoices):
    ANSWER = "answer", "Answer"
    HOLD = "hold", "Hold"
    RESUME = "resume", "Resume"
    MUTE = "mute", "Mute"
    UNMUTE = "unmute", "Unmute"
    HANGUP = "hangup", "Hang up"
    TRANSFER = "transfer", "Transfer"
    DIAL = "dial", "Dial"
    SEND_DTMF = "send_dtmf", "Send DTMF digits"
    PAUSE_RECORDING = "pause_recording", "Pause recording"
    RESUME_RECORDING = "resume_recording", "Resume recording"


class ControlStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Speaker(models.TextChoices):
    END_USER = "end_user", "End user"
    AGENT = "agent", "Agent"


Q, R, C, H, E = CallStatus.QUEUED, CallStatus.RINGING, CallStatus.CONNECTED, CallStatus.ON_HOLD, CallStatus.ENDED
LIVE = (Q, R, C, H)

# partner event type → {status it may come in: status it leads to}
TRANSITIONS: dict[str, dict[str, str]] = {
    "ringing": {Q: R},
    "connected": {Q: C, R: C},
    "held": {C: H},
    "resumed": {H: C},
    "ended": {s: E for s in LIVE},
    "recording_ready": {C: C, H: H, E: E},  # the link arrives during or after the call; no state change
}

EVENT_TYPES = tuple(TRANSITIONS)

# agent control → the call statuses in which it may be requested
ACTIONS: dict[str, tuple[str, ...]] = {
    CallAction.ANSWER: (Q, R),
    CallAction.HOLD: (C,),
    CallAction.RESUME: (H,),
    CallAction.MUTE: (C, H),
    CallAction.UNMUTE: (C, H),
    CallAction.HANGUP: LIVE,
    CallAction.TRANSFER: (C, H),
    CallAction.SEND_DTMF: (C,),
    CallAction.PAUSE_RECORDING: (C, H),
    CallAction.RESUME_RECORDING: (C, H),
    CallAction.DIAL: (),  # a new call: POST /api/v1/agent/calls/, never a control of an existing one
}

# what an action needs besides the state: a target, digits
NEEDS_TARGET = (CallAction.TRANSFER, CallAction.DIAL)
NEEDS_DIGITS = (CallAction.SEND_DTMF,)


def next_status(status: str, event_type: str) -> str | None:
    """The status a partner event leads to from `status`, or None when the machine refuses it."""
    return TRANSITIONS.get(event_type, {}).get(status)


def action_allowed(status: str, action: str) -> bool:
    """Whether the agent may request `action` on a call in `status`."""
    return status in ACTIONS.get(action, ())
