"""Prompt templates with fillable portions (FIG 17, 0171-0172) and their filling (FIG 18, 1806-1808).

A template is natural-language instructions with `{placeholder}` portions; literal braces are written
`{{` and `}}` (str.format rules) so a template can show the model the JSON it must answer with. Only
the placeholders in `PLACEHOLDERS` exist: a template naming another one is refused when it is checked,
not silently left half-filled in front of a model. Values are rendered deterministically (sorted keys,
stable order) so the same conversation always yields the same prompt — which keeps the training
prompts of FIG 17 and the live prompts of FIG 18 identical — and each value is cut to a size limit so
one long history cannot crowd the instructions out of the model's context.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from typing import Any

from ccp.core.errors import Invalid

from .summary import extractive_summary

#: What each placeholder is filled with. The keys are the whole vocabulary of fillable portions.
PLACEHOLDERS: dict[str, str] = {
    "tenant": "the tenant (business) the conversation belongs to",
    "channel": "the channel type the customer writes on (e.g. whatsapp, sms, web chat)",
    "contact": "what the CRM knows of the customer: account identifier, segment, language…",
    "history": "earlier interactions of this customer, most recent first",
    "first_messages": "the first customer messages of this conversation",
    "customer_interaction_summary": "a short description of the customer's issue",
    "transcript": "the conversation so far, one line per message",
    "available_agents": "the agents who can take the conversation: id, name, skills with levels, load",
    "skills": "the skill classes a conversation may be routed to",
}

#: Per-value size limit in characters; ~1,000 tokens keeps a prompt well inside small models' windows.
DEFAULT_MAX_VALUE_CHARS = 4000
#: How many customer messages count as "first messages".
FIRST_MESSAGES = 5
_ELLIPSIS = "…"

DEFAULT_ROUTING_TEMPLATE = """\
You are routing a customer conversation in the contact center of {tenant}. Identify the available \
agent best suited to handle it by matching the skills, skill levels and current load of the agents \
listed below with the needs of the customer described in the customer interaction summary. Prefer an \
agent with the needed skill at a higher level and a lower load. If no listed agent fits, name the \
skill the conversation needs instead, choosing from the skills listed.

Channel: {channel}
Customer: {contact}

Customer interaction summary:
{customer_interaction_summary}

First messages from the customer:
{first_messages}

Earlier interactions:
{history}

Available agents and their characteristics:
{available_agents}

Skills:
{skills}

Answer with a single JSON object and nothing else, in this form:
{{"agent_id": "<id of one listed agent, or null>", "skill": "<one listed skill, or null>", \
"reason": "<one short sentence>"}}
"""

DEFAULT_SUMMARY_TEMPLATE = """\
Summarize the customer conversation below for the agent who is about to take it over, in at most \
three sentences: what the customer needs, what has already been said or tried, and what they expect \
next. Use only facts from the conversation; do not invent names, numbers or promises.

Conversation:
{transcript}
"""


def template_placeholders(*, template: str) -> list[str]:
    """The placeholders a template uses, in order of first appearance, without duplicates.

    Raises Invalid (`invalid_prompt_template`) for malformed braces or a placeholder with a format
    spec / conversion / attribute access, which would let a template reach into Python objects.
    """
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise Invalid(
            f"The prompt template is malformed: {exc}. Write literal braces as {{{{ and }}}}.",
            code="invalid_prompt_template",
        ) from None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise Invalid(
                f"Placeholder {{{field}}} is not a plain name; use {{name}} with letters, digits and _.",
                code="invalid_prompt_template",
                details={"placeholders": [field]},
            )
        if field not in names:
            names.append(field)
    return names


def template_validate(*, template: str) -> list[str]:
    """Check a template before it is stored or used; returns its placeholders.

    Unknown placeholders are an error that names them all, so an admin fixes a typo at once instead
    of a model receiving a prompt with a hole in it.
    """
    names = template_placeholders(template=template)
    unknown = [name for name in names if name not in PLACEHOLDERS]
    if unknown:
        listed = ", ".join("{" + name + "}" for name in unknown)
        raise Invalid(
            f"The prompt template uses unknown placeholders: {listed}. Known: {', '.join(sorted(PLACEHOLDERS))}.",
            code="invalid_prompt_template",
            details={"unknown": unknown},
        )
    return names


def prompt_fill(
    *,
    template: str,
    conversation: Mapping[str, Any],
    agents: Sequence[Mapping[str, Any]] = (),
    skills: Sequence[str] = (),
    max_value_chars: int = DEFAULT_MAX_VALUE_CHARS,
) -> str:
    """Fill a template from conversation characteristics and the available agents (FIG 18, 1808).

    `conversation` is a plain dict: `tenant`, `channel`, `contact` (dict), `history` (list of str or
    dicts, most recent first), `messages` (list of `{"sender": "customer"|"agent", "text": ...}`) and
    optionally `summary` — without one, the interaction summary is the deterministic extractive one.
    `agents` are dicts with `id`, `name`, `skills` (`{name: level}` or a list of names), `load`,
    `capacity`. Missing characteristics render as "(none)", never as a Python repr.
    """
    names = template_validate(template=template)
    values = _values(conversation=conversation, agents=agents, skills=skills)
    filled = {name: _truncate(values[name], max_value_chars) for name in names}
    return template.format_map(filled)


def render_agents(*, agents: Sequence[Mapping[str, Any]]) -> str:
    """One line per agent, in the given order, e.g. `- id=a1 | Ann | skills: cards (5), transfers (2) | load 1/3`."""
    lines = []
    for agent in agents:
        parts = [f"- id={agent.get('id')}"]
        if agent.get("name"):
            parts.append(str(agent["name"]))
        parts.append("skills: " + (_render_skills(agent.get("skills")) or "(none)"))
        if agent.get("capacity") is not None:
            parts.append(f"load {agent.get('load', 0)}/{agent['capacity']}")
        elif agent.get("load") is not None:
            parts.append(f"load {agent['load']}")
        lines.append(" | ".join(parts))
    return "\n".join(lines)


def render_transcript(*, messages: Sequence[Mapping[str, Any]]) -> str:
    """`sender: text`, one message a line, in conversation order."""
    return "\n".join(
        f"{message.get('sender') or 'customer'}: {_one_line(message.get('text', ''))}" for message in messages
    )


def customer_texts(*, messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """The texts the customer wrote (a message without a sender counts as the customer's)."""
    return [
        str(message.get("text", ""))
        for message in messages
        if (message.get("sender") or "customer") == "customer" and str(message.get("text", "")).strip()
    ]


def _values(
    *, conversation: Mapping[str, Any], agents: Sequence[Mapping[str, Any]], skills: Sequence[str]
) -> dict[str, str]:
    messages = list(conversation.get("messages") or [])
    first = customer_texts(messages=messages)[:FIRST_MESSAGES]
    summary = conversation.get("summary") or extractive_summary(messages=messages)
    all_skills = list(skills) or sorted({name for agent in agents for name in _skill_names(agent.get("skills"))})
    values = {
        "tenant": _render(conversation.get("tenant")),
        "channel": _render(conversation.get("channel")),
        "contact": _render(conversation.get("contact")),
        "history": _render_list(conversation.get("history")),
        "first_messages": "\n".join(f"- {_one_line(text)}" for text in first),
        "customer_interaction_summary": _render(summary),
        "transcript": render_transcript(messages=messages),
        "available_agents": render_agents(agents=agents),
        "skills": ", ".join(all_skills),
    }
    return {name: value if value.strip() else "(none)" for name, value in values.items()}


def _render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Mapping):
        return "; ".join(
            f"{key}: {_render(value[key])}" for key in sorted(value, key=str) if value[key] not in ("", None)
        )
    if isinstance(value, list | tuple):
        return ", ".join(_render(item) for item in value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _render_list(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "\n".join(f"- {_one_line(_render(item))}" for item in value)
    return _render(value)


def _skill_names(skills: Any) -> list[str]:
    if isinstance(skills, Mapping):
        return [str(name) for name in skills]
    if isinstance(skills, list | tuple):
        return [str(name) for name in skills]
    return []


def _render_skills(skills: Any) -> str:
    if isinstance(skills, Mapping):
        return ", ".join(f"{name} ({skills[name]})" for name in sorted(skills, key=str))
    return ", ".join(sorted(_skill_names(skills)))


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def _truncate(text: str, limit: int) -> str:
    if limit < 1:
        raise Invalid("The size limit of a prompt value must be positive.", code="invalid_prompt_template")
    if len(text) <= limit:
        return text
    return text[: limit - len(_ELLIPSIS)] + _ELLIPSIS


#: Placeholders of a package-draft template: the partner's own words, nothing else.
PACKAGE_DRAFT_PLACEHOLDERS: dict[str, str] = {"description": "the partner's description of the channel to package"}

DEFAULT_PACKAGE_DRAFT_TEMPLATE = """\
Draft the manifest of a ccp custom communication package for the channel described below. Answer with \
one JSON object and nothing else, in this form (keep only keys shown here):
{{"name": "<product name>", "version": "1.0.0", "description": "<one sentence>",
 "channel_definition": {{"developer_name": "<3-80 lowercase letters, digits, _>",
   "channel_types": ["messaging" and/or "voice", "video"], "routing_owner": "platform" or "partner",
   "consent_owner": "platform" or "partner",
   "capabilities": {{"typing": true/false, "receipts": true/false, "attachments": true/false}}}},
 "event_types": [{{"api_name": "<Name>__e", "outbound_messages": true,
   "fields": {{"<field>": {{"type": "string"}}}}, "required": ["<field>"]}}],
 "custom_objects": [{{"api_name": "<Name>__c", "fields": {{"<field>": {{"type": "string"}}}}}}]}}
Exactly one event type carries outbound messages; its fields include channel_address_id, recipient and \
payload. Do not invent URLs, credentials or client ids.

Channel description:
{description}
"""


def prompt_template_check(*, purpose: str, template: str) -> list[str]:
    """Check a stored template for its purpose (routing, summary, package_draft); returns its placeholders.

    Routing and summary templates use `PLACEHOLDERS`; a package-draft template only `{description}`.
    Raises Invalid (`invalid_prompt_template`) naming every unknown placeholder.
    """
    if purpose != "package_draft":
        return template_validate(template=template)
    names = template_placeholders(template=template)
    unknown = [name for name in names if name not in PACKAGE_DRAFT_PLACEHOLDERS]
    if unknown:
        listed = ", ".join("{" + name + "}" for name in unknown)
        raise Invalid(
            f"The prompt template uses unknown placeholders: {listed}. Known: {{description}}.",
            code="invalid_prompt_template",
            details={"unknown": unknown},
        )
    return names


def draft_prompt_fill(*, template: str, description: str, max_value_chars: int = DEFAULT_MAX_VALUE_CHARS) -> str:
    """Fill a package-draft template with the partner's description (cut to the size limit)."""
    prompt_template_check(purpose="package_draft", template=template)
    return template.format_map({"description": _truncate(description.strip() or "(none)", max_value_chars)})
