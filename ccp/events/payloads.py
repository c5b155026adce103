"""One declared schema per standard event type: the `data` of every event the platform publishes.

Each payload is a JSON Schema (draft 2020-12) object that forbids undeclared fields
(`additionalProperties: false`, as Zulip's `event_types.py` forbids extras), built from the field
helpers below so that a field shared by several types (a conversation's, a work offer's) is declared
once. The same declarations are

- checked on every publish while `EVENTS_VALIDATE_PAYLOADS` is on (the test suite turns it on, so a
  payload that drifts from its declaration fails the test that published it),
- served to partners at `GET /api/v1/events/schemas/` and in the AsyncAPI document
  (`GET /api/v1/events/asyncapi.json`),
- rendered into docs/events.md by `manage.py events_docs` (a test keeps the page in sync).

Payloads are checked after JSON normalisation (UUIDs and datetimes are strings by then). Only the
routing attributes of a work item (`attributes`) are an open map: conversations fills the keys
declared here, a partner-routed or transferred item may carry more.
"""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from .choices import STANDARD_EVENT_TYPES

# --- field helpers --------------------------------------------------------------------------------

Field = tuple[dict, str]  # (schema, description)


def _s(description: str, **schema: Any) -> Field:
    return ({"type": "string", **schema}, description)


def _id(description: str) -> Field:
    return ({"type": "string", "format": "uuid"}, description)


def _ts(description: str) -> Field:
    return ({"type": "string", "format": "date-time"}, description)


def _nullable(field: Field) -> Field:
    schema, description = field
    return ({"anyOf": [schema, {"type": "null"}]}, description)


def _object(required: dict[str, Field], optional: dict[str, Field] | None = None, *, open_map=False) -> dict:
    fields = {**required, **(optional or {})}
    return {
        "type": "object",
        "properties": {name: {**schema, "description": text} for name, (schema, text) in fields.items()},
        "required": list(required),
        "additionalProperties": open_map,
    }


PRESENCE = ["online", "busy", "away", "offline"]

CONVERSATION: dict[str, Field] = {
    "conversation_id": _id("The conversation."),
    "status": _s("The conversation's status.", enum=["routing", "active", "waiting", "bot", "closed"]),
    "channel_address_id": _s("The channel's address id (the partner's, e.g. a phone number)."),
    "end_user": _s("The end user's address on the channel."),
    "contact_id": _id("The CRM contact of the end user."),
    "routing_owner": _s("Who routes it: platform or partner.", enum=["platform", "partner"]),
    "subject": _s("An e-mail conversation's subject (its first inbound subject); empty otherwise."),
}

ATTACHMENT = _object(
    {
        "url": _s("Where the file is served (by the partner or the agent's upload)."),
        "content_type": _s("Its media type."),
        "name": _s("Its file name (may be empty)."),
        "size": _nullable(({"type": "integer", "minimum": 0}, "Its size in bytes, when known.")),
    }
)

MESSAGE: dict[str, Field] = {
    "id": _id("The message."),
    "conversation_id": _id("Its conversation."),
    "seq": ({"type": "integer", "minimum": 1}, "Its position in the conversation (1, 2, …)."),
    "direction": _s(
        'inbound (from the end user), outbound (to the end user), or system (a note such as "Alice joined.", '
        "for agents only).",
        enum=["inbound", "outbound", "system"],
    ),
    "sender_type": _s("Who wrote it.", enum=["end_user", "agent", "bot", "system"]),
    "sender_name": _s("The sender's display name."),
    "agent_id": _nullable(_id("The agent who wrote it (outbound agent messages).")),
    "text": _s("The text (may be empty when there are attachments)."),
    "attachments": ({"type": "array", "items": ATTACHMENT}, "Files: url, content_type, name, size."),
    "status": _s("Its delivery status.", enum=["received", "sent", "delivered", "read", "failed"]),
    "status_changed_at": _nullable(_ts("When the status last changed.")),
    "failure_reason": _s("Why delivery failed (empty otherwise)."),
    "partner_entry_id": _nullable(_s("The partner's entry id of an inbound message (its idempotency key).")),
    "created_at": _ts("When it was stored."),
    "subject": _s("An e-mail's subject line (empty for chat messages)."),
    "html": _s("An e-mail's HTML body as sanitized on arrival to a safe subset (empty when there is none)."),
    "conversation": (_object(CONVERSATION), "The conversation, as in conversation.* events."),
}

ROUTING_ATTRIBUTES = _object(
    {},
    {
        "conversation_id": _id("The conversation being routed."),
        "contact_id": _id("Its contact."),
        "contact_name": _s("The contact's name (or the end user's address)."),
        "end_user": _s("The end user's address."),
        "channel_address_id": _s("The channel's address id."),
        "channel_name": _s("The channel's name."),
        "channel_type": _s("messaging, voice, video or email."),
        "first_message": _s("The first words of the end user, for the offer."),
        "transfer_from": _id("After a transfer: the agent who transferred it."),
        "transfer_from_name": _s("After a transfer: that agent's name."),
        "outbound": ({"type": "boolean"}, "An agent started it (outbound conversation)."),
        "fallback": _s("Why it fell back to platform routing (partner did not answer)."),
    },
    open_map=True,
)

WORK: dict[str, Field] = {
    "work_id": _id("The offer / assignment (AgentWork)."),
    "work_item_id": _id("The routable unit (WorkItem)."),
    "kind": _s("What is routed, e.g. messaging_session."),
    "reference": _s("The routed object's id (for a messaging session: the session id)."),
    "agent_id": _id("The agent it is offered to or held by."),
    "status": _s("offered, accepted, declined, timed_out, rescinded, acw or closed."),
    "engine": _s("Who chose the agent: platform, partner or ai."),
    "channel_type": _s("messaging, voice or video: whose capacity it takes."),
    "offered_at": _ts("When it was offered."),
    "expires_at": _ts("When the offer expires unanswered."),
    "acw_ends_at": _nullable(_ts("When after-conversation work ends.")),
    "reason": _s("Why it ended that way (decline reason, timeout…), or empty."),
    "is_transfer": ({"type": "boolean"}, "It is a transfer of a conversation another agent holds."),
    "attributes": (ROUTING_ATTRIBUTES, "What the agent sees in the offer (an open map)."),
}


CALL_STATUSES = ["queued", "ringing", "connected", "on_hold", "ended"]
CALL_END_REASONS = ["completed", "abandoned", "no_answer", "failed", "transferred"]
CALL_ACTIONS = [
    "answer",
    "hold",
    "resume",
    "mute",
    "unmute",
    "hangup",
    "transfer",
    "dial",
    "send_dtmf",
    "pause_recording",
    "resume_recording",
]
_INT = {"type": "integer", "minimum": 0}

CALL: dict[str, Field] = {
    "id": _id("ccp's id of the call."),
    "call_id": _s("The partner's call key (unique per partner); ccp-… for a call an agent placed."),
    "conversation_id": _id("The call's conversation."),
    "channel_address_id": _s("The call center's channel address id."),
    "direction": _s("inbound or outbound.", enum=["inbound", "outbound"]),
    "from": _s("The caller's address (inbound) or the number dialled (outbound)."),
    "from_name": _s("The caller's name, if known."),
    "status": _s("The call's status.", enum=CALL_STATUSES),
    "end_reason": _nullable(_s("Why it ended.", enum=CALL_END_REASONS)),
    "agent_id": _nullable(_id("The agent on the call.")),
    "started_at": _nullable(_ts("When the partner says the call started.")),
    "queued_at": _ts("When ccp got the call."),
    "ringing_at": _nullable(_ts("When it started ringing.")),
    "answered_at": _nullable(_ts("When it was connected.")),
    "ended_at": _nullable(_ts("When it ended.")),
    "hold_seconds": (_INT, "Seconds on hold."),
    "talk_seconds": (_INT, "Seconds connected, not on hold."),
    "muted": ({"type": "boolean"}, "The agent's microphone is muted."),
    "recording_paused": ({"type": "boolean"}, "Recording is paused."),
    "recording": (
        {
            "anyOf": [
                _object(
                    {
                        "url": _s("Where the partner serves the recording."),
                        "duration_seconds": _nullable((_INT, "Its length.")),
                        "content_type": _s("Its media type, e.g. audio/wav."),
                        "paused": ({"type": "boolean"}, "Recording is paused."),
                    }
                ),
                {"type": "null"},
            ]
        },
        "The recording, once the partner reported it.",
    ),
}

CALL_CONTROL: dict[str, Field] = {
    "request_id": _id("Report the result with this id on POST /api/v1/calls/{call_id}/controls/{request_id}/result/."),
    "call_id": CALL["call_id"],
    "conversation_id": CALL["conversation_id"],
    "action": _s("What to do.", enum=CALL_ACTIONS),
    "target": (
        {"anyOf": [{"type": "object", "additionalProperties": {"type": "string"}}, {"type": "null"}]},
        'For transfer and dial: {"agent_id"}, {"queue"} or {"address"}.',
    ),
    "digits": _s("For send_dtmf: the digits (empty otherwise)."),
    "status": _s("pending, done or failed.", enum=["pending", "done", "failed"]),
    "reason": _s("Why it failed (empty otherwise)."),
    "agent_id": _nullable(_id("The agent who asked.")),
    "created_at": _ts("When it was asked."),
    "completed_at": _nullable(_ts("When the partner reported it.")),
}

_WORK_SCHEMA = _object(WORK)
_MESSAGE_SCHEMA = _object(MESSAGE)

# --- the declarations -----------------------------------------------------------------------------

EVENT_PAYLOAD_SCHEMAS: dict[str, dict] = {
    "conversation.created": _object(
        {**CONVERSATION, "initiated_by": _s("Who opened it.", enum=["end_user", "agent"])},
    ),
    "conversation.closed": _object(
        {
            **CONVERSATION,
            "closed_by": _s("agent, partner, end_user or system (a timeout)."),
            "agent_id": _nullable(_id("The agent who closed it.")),
        }
    ),
    "conversation.transferred": _object(
        {**CONVERSATION, "from_agent_ids": ({"type": "array", "items": {"type": "string"}}, "Who held it.")},
        {"to_agent_id": _id("The agent who took it over."), "to_bot": _s("The bot it was handed to.")},
    ),
    "message.created": _MESSAGE_SCHEMA,
    "message.status_changed": _MESSAGE_SCHEMA,
    "routing.requested": _object(
        {
            "routing_request_id": _id("Answer with this id on POST …/route/."),
            "routing_type": _s("initial or transfer.", enum=["initial", "transfer"]),
            "deadline": _ts("After this the platform routes it itself."),
            "work_item_id": _id("The routable unit."),
            "kind": WORK["kind"],
            "reference": WORK["reference"],
            "channel_type": WORK["channel_type"],
            "excluded_agents": ({"type": "array", "items": {"type": "string"}}, "Agents not to offer it to."),
            "attributes": WORK["attributes"],
        }
    ),
    **{
        name: _WORK_SCHEMA
        for name in (
            "work.offered",
            "work.accepted",
            "work.declined",
            "work.timed_out",
            "work.rescinded",
            "work.closed",
            "work.acw_started",
            "work.acw_ended",
        )
    },
    "agent.status_changed": _object(
        {
            "agent_id": _id("The agent."),
            "status": _s("The new presence.", enum=PRESENCE),
            "since": _ts("Since when."),
            "source": _s("Who changed it: agent, partner, routing or supervisor."),
        },
        {"reason": _s("Why routing changed it (e.g. offers went unanswered).")},
    ),
    "agent.capacity_changed": _object(
        {
            "agent_id": _id("The agent."),
            "capacity": (
                {
                    "type": "object",
                    "additionalProperties": _object(
                        {
                            "max": ({"type": "integer", "minimum": 0}, "The most work of that type at once."),
                            "used": ({"type": "integer", "minimum": 0}, "Held now (offered, accepted, ACW)."),
                        }
                    ),
                },
                "Per channel type: {max, used}.",
            ),
        }
    ),
    "consent.changed": _object(
        {
            "channel_address_id": _s("The channel's address id."),
            "address": _s("The end user's address."),
            "status": _s("The new consent status."),
            "old_status": _s("The status before."),
            "pending_opt_in": ({"type": "boolean"}, "A double opt-in confirmation is awaited."),
            "owner": _s("Who owns consent on this channel: platform or partner."),
            "source": _s("Where the change came from: keyword, agent, partner, web_form, import…"),
            "updated_at": _ts("When it changed."),
        }
    ),
    "typing.started": _object(
        {**CONVERSATION, "who": _s("end_user or agent.", enum=["end_user", "agent"])},
        {"agent_id": _id("The agent typing (who = agent).")},
    ),
    "call.created": _object(CALL),
    "call.state_changed": _object({**CALL, "previous_status": _s("The status before.", enum=CALL_STATUSES)}),
    "call.ended": _object(CALL),
    "call.recording_ready": _object(CALL),
    "transcript.segment": _object(
        {
            "call_id": CALL["call_id"],
            "conversation_id": CALL["conversation_id"],
            "id": _s("The partner's segment id; a final segment replaces the interim one of the same id."),
            "speaker": _s("Who spoke.", enum=["end_user", "agent"]),
            "text": _s("What was said."),
            "start_ms": (_INT, "Offset of its start in the call, in milliseconds."),
            "end_ms": (_INT, "Offset of its end."),
            "final": ({"type": "boolean"}, "false: interim (may still change); true: final."),
            "message_id": _nullable(_id("A final segment's entry in the conversation's history.")),
        }
    ),
    "call.control_requested": _object(CALL_CONTROL),
    "call.control_completed": _object(CALL_CONTROL),
}
EVENT_PAYLOAD_SCHEMAS["typing.stopped"] = EVENT_PAYLOAD_SCHEMAS["typing.started"]

SLA_TARGETS = ["first_response", "next_response", "resolution"]
SLA_CLOCK = {
    "conversation_id": _id("The conversation the clock runs for."),
    "target": _s("Which target (docs/reports.md, SLA).", enum=SLA_TARGETS),
    "started_at": _ts("When the clock started."),
    "due_at": _nullable(_ts("When the target runs out, in the calendar's open time (null: it never opens).")),
    "policy_id": _nullable(_id("The SLA policy (null: deleted since).")),
    "policy_name": _s("The SLA policy's name when the clock started."),
}
EVENT_PAYLOAD_SCHEMAS["sla.warning"] = _object({**SLA_CLOCK, "warned_at": _ts("When 80 % of the target had passed.")})
EVENT_PAYLOAD_SCHEMAS["sla.breached"] = _object(
    {**SLA_CLOCK, "breached_at": _ts("When the breach was seen (the sweep's run or the late stop).")}
)


class EventPayloadMismatch(Exception):
    """A published payload does not match its declared schema: a bug in the publisher, not bad input."""


@functools.cache
def _validator(type_: str) -> Draft202012Validator:
    return Draft202012Validator(EVENT_PAYLOAD_SCHEMAS[type_], format_checker=FormatChecker())


def payload_problems(type_: str, data: dict) -> list[str]:
    """What is wrong with `data` as the payload of the standard event type `type_` (empty: nothing)."""
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(data)'}: {error.message}"
        for error in _validator(type_).iter_errors(data)
    ]


def payload_check(type_: str, data: dict) -> None:
    problems = payload_problems(type_, data)
    if problems:
        raise EventPayloadMismatch(f"{type_} payload does not match its declaration: {'; '.join(problems[:5])}")


def event_schemas() -> dict[str, dict]:
    """What `GET /api/v1/events/schemas/` serves: per standard type, its description and data schema."""
    return {
        type_: {"description": STANDARD_EVENT_TYPES[type_], "data": EVENT_PAYLOAD_SCHEMAS[type_]}
        for type_ in STANDARD_EVENT_TYPES
    }


ENVELOPE_FIELDS: dict[str, Field] = {
    "id": ({"type": "integer", "minimum": 1}, "The replay id: increasing, the cursor of ?after= and Last-Event-ID."),
    "type": _s("The event type."),
    "tenant": _s("The tenant's slug."),
    "occurred_at": _ts("When it happened."),
}


def envelope_schema(type_: str) -> dict:
    """The whole envelope of one event type, as webhooks, replay and the stream carry it."""
    schema = _object({**ENVELOPE_FIELDS, "data": ({"$ref": f"#/components/schemas/{type_}"}, "The payload.")})
    schema["properties"]["type"]["const"] = type_
    return schema


# --- docs/events.md -------------------------------------------------------------------------------

DOCS_BEGIN = "<!-- BEGIN event payloads: generated by `manage.py events_docs` from ccp/events/payloads.py -->"
DOCS_END = "<!-- END event payloads -->"


def _type_name(schema: dict) -> str:
    if "anyOf" in schema:
        return " or ".join(_type_name(s) for s in schema["anyOf"])
    kind = schema.get("type", "object")
    if kind == "string" and "format" in schema:
        kind = schema["format"]
    if "enum" in schema:
        kind = " \\| ".join(f"`{v}`" for v in schema["enum"])
    if kind == "array":
        kind = f"array of {_type_name(schema['items'])}"
    return kind


def _field_rows(schema: dict, prefix: str = "") -> list[str]:
    rows = []
    for name, field in schema["properties"].items():
        required = "yes" if name in schema["required"] else "no"
        rows.append(f"| `{prefix}{name}` | {_type_name(field)} | {required} | {field.get('description', '')} |")
        if field.get("type") == "object" and field.get("properties") and name != "conversation":
            rows += _field_rows(field, prefix=f"{prefix}{name}.")
    return rows


def payloads_markdown() -> str:
    """The payload section of docs/events.md: types sharing one declaration are listed together."""
    groups: dict[int, list[str]] = {}
    for type_, schema in EVENT_PAYLOAD_SCHEMAS.items():
        groups.setdefault(id(schema), []).append(type_)
    lines = [DOCS_BEGIN, ""]
    for types in groups.values():
        schema = EVENT_PAYLOAD_SCHEMAS[types[0]]
        lines.append("### " + " · ".join(f"`{t}`" for t in types))
        lines.append("")
        lines += [f"- `{t}`: {STANDARD_EVENT_TYPES[t]}" for t in types]
        extra = " Further keys may be present." if schema.get("additionalProperties") else ""
        lines += ["", f"`data` fields (no others).{extra}", "", "| field | type | required | meaning |"]
        lines += ["| --- | --- | --- | --- |", *_field_rows(schema), ""]
    lines.append(DOCS_END)
    return "\n".join(lines)
