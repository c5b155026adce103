"""Domain errors of the interaction service."""

from ccp.core.errors import Conflict, Forbidden, Invalid, NotFound


class ConversationNotFound(NotFound):
    code = "conversation_not_found"
    default_message = "No such conversation."


class ConversationClosed(Conflict):
    code = "conversation_closed"
    default_message = "This conversation is closed."


class InstallationInactive(Conflict):
    code = "installation_inactive"
    default_message = "The tenant has deactivated this package; its channels take no interactions now."


class ChannelInactive(Conflict):
    code = "channel_inactive"
    default_message = "This channel is switched off."


class NotAParticipant(Forbidden):
    code = "not_a_participant"
    default_message = "You are not handling this conversation."


class UnknownMessage(Invalid):
    code = "unknown_message"
    default_message = "The receipt names a message that is not an outbound message of this conversation."


class AgentOffline(Conflict):
    code = "agent_offline"
    default_message = "You are offline; go online to send messages and take work."


# --- voice calls ---


class CallNotFound(NotFound):
    code = "call_not_found"
    default_message = "No such call."


class NotAVoiceChannel(Invalid):
    code = "not_a_voice_channel"
    default_message = "This channel is not a call center (its type is not voice)."


class InvalidCallTransition(Conflict):
    code = "invalid_call_transition"
    default_message = "The call's state does not allow this event."


class InvalidCallAction(Conflict):
    code = "invalid_call_action"
    default_message = "The call's state does not allow this control."


class ControlRequestNotFound(NotFound):
    code = "control_request_not_found"
    default_message = "No such control request on this call."


class SupervisorOnly(Forbidden):
    code = "supervisor_only"
    default_message = "This needs a supervisor or tenant admin."


class CannedResponseNotFound(NotFound):
    code = "canned_response_not_found"
    default_message = "No such canned response."


class ShortcutTaken(Conflict):
    code = "shortcut_taken"
    default_message = "A canned response with this shortcut already exists."
