"""The interaction service (FIG 12, 13, 19, 23): it orchestrates tenants, routing and the event bus.

Every entry point runs in one database transaction: a partner's interaction stores the contact,
conversation, session, messages and the outbox events together, and starts routing — or nothing.
Import from here: `from conversations import services`. The modules, grouped by what they do, depend
one way (inbound, agent_actions → outbound → lifecycle → payloads):

- `payloads`: the message and conversation payloads, publishing to a conversation's audience, the
  package's outbound event type, attachment validation.
- `lifecycle`: locking, appending, opening and closing a conversation; sessions and their routing;
  participants.
- `outbound`: THE one consent-checked path to the end user (`outbound_send`), and an agent
  starting a conversation.
- `inbound`: the partner's interactions (`interaction_receive`, `parse_entries`).
- `agent_actions`: accept, decline, reply, typing, transfer, partner-owned routing.
- `supervision`: monitor, whisper and notes, barge in, reassign, presence set by a supervisor.
- `canned`: canned responses (shared and personal).
"""

from .agent_actions import (
    agent_typing,
    agent_work_accept,
    agent_work_decline,
    conversation_transfer,
    message_send,
    route_by_partner,
)
from .inbound import ENTRY_TYPES, MAX_ENTRIES, RECEIPTS, Entry, interaction_receive, parse_entries
from .lifecycle import conversation_close, open_session, start_routing
from .outbound import conversation_start_outbound
from .payloads import MAX_ATTACHMENTS, active_agent_ids, conversation_data, message_data
from .supervision import (
    agent_presence_set_by_supervisor,
    conversation_join,
    conversation_monitor,
    conversation_notes,
    conversation_reassign,
    note_create,
    note_data,
)

__all__ = [
    "ENTRY_TYPES",
    "MAX_ATTACHMENTS",
    "MAX_ENTRIES",
    "RECEIPTS",
    "Entry",
    "active_agent_ids",
    "agent_presence_set_by_supervisor",
    "agent_typing",
    "agent_work_accept",
    "agent_work_decline",
    "conversation_close",
    "conversation_data",
    "conversation_join",
    "conversation_monitor",
    "conversation_notes",
    "conversation_reassign",
    "conversation_start_outbound",
    "conversation_transfer",
    "interaction_receive",
    "message_data",
    "message_send",
    "note_create",
    "note_data",
    "open_session",
    "parse_entries",
    "route_by_partner",
    "start_routing",
]
