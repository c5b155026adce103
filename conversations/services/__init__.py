"""The interaction service (FIG 12, 13, 19, 23): it orchestrates tenants, routing and the event bus.

Every entry point runs in one database transaction: a partner's interaction stores the contact,
conversation, session, messages and the outbox events together, and starts routing — or nothing.
Import from here: `from conversations import services`. The modules, grouped by what they do, depend
one way (inbound, agent_actions → outbound → lifecycle → payloads; inbound, agent_actions → inputs):

- `inputs`: the one declaration of what an end user's message may carry (the JSON schema of
  POST /interactions/, the agent reply's text and attachments) and its check.
- `payloads`: the message and conversation payloads, publishing to a conversation's audience, the
  package's outbound event type.
- `lifecycle`: locking, appending, opening and closing a conversation; sessions and their routing;
  participants.
- `outbound`: THE one consent-checked path to the end user (`outbound_send`), and an agent
  starting a conversation.
- `inbound`: the partner's interactions (`interaction_receive`).
- `agent_actions`: accept, decline, reply, typing, transfer, partner-owned routing.
- `calls`: voice calls (docs/voice.md) — the partner's calls, events, transcript and control results,
  the agent's controls and calls; builds on the modules above. `call_records` (a call's payloads,
  its control requests) is what `lifecycle` and `agent_actions` use of calls.
- `supervision`: monitor, whisper and notes, barge in, reassign, presence set by a supervisor.
- `canned`: canned responses (shared and personal).
- `sla`: SLA clocks (docs/reports.md, "SLA"), started and stopped by `inbound`, `outbound` and
  `lifecycle`, warned and breached by `sla_sweep`; below `lifecycle`, above `payloads`.
"""

from .agent_actions import (
    agent_typing,
    agent_work_accept,
    agent_work_decline,
    conversation_transfer,
    message_send,
    route_by_partner,
)
from .inbound import RECEIPTS, interaction_receive
from .inputs import (
    ENTRY_TYPES,
    MAX_ATTACHMENTS,
    MAX_ENTRIES,
    Entry,
    entries_parse,
    interaction_envelope_check,
    interaction_schema,
    reply_schema,
)
from .lifecycle import conversation_close, open_session, start_routing
from .outbound import conversation_start_outbound
from .payloads import active_agent_ids, conversation_data, message_data
from .sla import clock_times, policy_calendar, sla_sweep
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
    "clock_times",
    "conversation_close",
    "conversation_data",
    "conversation_join",
    "conversation_monitor",
    "conversation_notes",
    "conversation_reassign",
    "conversation_start_outbound",
    "conversation_transfer",
    "entries_parse",
    "interaction_envelope_check",
    "interaction_receive",
    "interaction_schema",
    "message_data",
    "message_send",
    "note_create",
    "note_data",
    "open_session",
    "policy_calendar",
    "reply_schema",
    "route_by_partner",
    "sla_sweep",
    "start_routing",
]
