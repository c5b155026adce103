"""The interaction service (FIG 12, 13, 19, 23): it orchestrates tenants, routing and the event bus.

Every entry point runs in one database transaction: a partner's interaction stores the contact,
conversation, session, messages and the outbox events together, and starts routing — or nothing.
`common` holds what the parts share, `interactions` the partner's inbound side, `agents` the rest.
"""

from .agents import (
    agent_typing,
    agent_work_accept,
    agent_work_decline,
    conversation_close,
    conversation_start_outbound,
    conversation_transfer,
    message_send,
    route_by_partner,
)
from .common import MAX_ATTACHMENTS, active_agent_ids, conversation_data, message_data, open_session, start_routing
from .interactions import ENTRY_TYPES, MAX_ENTRIES, RECEIPTS, Entry, interaction_receive, parse_entries

__all__ = [
    "ENTRY_TYPES",
    "MAX_ATTACHMENTS",
    "MAX_ENTRIES",
    "RECEIPTS",
    "Entry",
    "active_agent_ids",
    "agent_typing",
    "agent_work_accept",
    "agent_work_decline",
    "conversation_close",
    "conversation_data",
    "conversation_start_outbound",
    "conversation_transfer",
    "interaction_receive",
    "message_data",
    "message_send",
    "open_session",
    "parse_entries",
    "route_by_partner",
    "start_routing",
]
