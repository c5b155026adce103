"""The one declaration of what an end user's message may carry: the body of POST /api/v1/interactions/
as a JSON schema built from settings when asked (`interaction_schema`), checked with jsonschema, its
errors turned into the partner's sentences and codes through one table (`PROBLEMS`). The OpenAPI
document renders the same schema (conversations/api/partner.py), and the agent's reply shares its
text and attachments parts (conversations/api/agent.py), so docs and checks cannot drift.

The body is checked in three parts, in the order partners have always seen: the envelope (`to`,
`from`, `entries` present; in the view, before the channel is looked up), `from` (after the
channel's checks), then every entry at once, all problems by path, before anything is stored.

To add a field: add it to `interaction_schema()` (top level) or to an entry type in
`entry_schemas()`; add a row to `PROBLEMS` only if a violation needs its own sentence or code.
Entries are told apart by `type` (each schema in `entry_schemas()` names its types in
`properties.type.enum`), so an entry's problems are those of its own type only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from django.conf import settings
from django.utils.dateparse import parse_datetime
from jsonschema import Draft202012Validator, FormatChecker, validators

from ccp.core.errors import Invalid

from ..sanitize import html_sanitize

RECEIPT_TYPES = ("delivered", "read", "delivery_failed")
TYPING_TYPES = ("typing_started", "typing_stopped")
ENTRY_TYPES = ("message", *TYPING_TYPES, *RECEIPT_TYPES)
MAX_ENTRIES = 100
MAX_ATTACHMENTS = 10

# What str.strip() removes: a text made only of these is empty.
NOT_SPACE = "[^\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# an http(s) URL with a host (no brackets but an IPv6 literal's)
HTTP_URL = "^[hH][tT][tT][pP][sS]?://[^/?#\\[\\]\t\r\n][^/?#\\[\\]]*([/?#][\\s\\S]*)?$"


# --- the declaration ---------------------------------------------------------------------------


def text_schema() -> dict:
    return {"type": "string", "maxLength": settings.MESSAGE_MAX_CHARS}


def attachments_schema() -> dict:
    return {
        "type": "array",
        "nullable": True,
        "maxItems": MAX_ATTACHMENTS,
        "items": {
            "type": "object",
            "required": ["url"],
            "properties": {
                "url": {"type": "string", "pattern": HTTP_URL},
                "content_type": {"type": "string", "nullable": True, "description": "default application/octet-stream"},
                "name": {"type": "string", "nullable": True},
                "size": {"type": "integer", "nullable": True, "minimum": 0, "maximum": settings.ATTACHMENT_MAX_BYTES},
            },
        },
    }


def something_to_send() -> list[dict]:
    """Non-blank text (of the allowed length) or at least one attachment."""
    return [
        {"required": ["text"], "properties": {"text": {**text_schema(), "pattern": NOT_SPACE}}},
        {"required": ["attachments"], "properties": {"attachments": {"type": "array", "minItems": 1}}},
    ]


_ENTRY_ID = {
    "type": "string",
    "nullable": True,
    "minLength": 1,
    "maxLength": 200,
    "description": "Your id of the entry",
}
_TIMESTAMP = {"type": "string", "nullable": True, "format": "date-time"}


def entry_schemas() -> list[dict]:
    return [
        {
            "type": "object",
            "description": "An end user's message; `id` makes re-sending safe.",
            "required": ["type", "id"],
            "properties": {
                "type": {"type": "string", "enum": ["message"]},
                "id": {**_ENTRY_ID, "nullable": False},
                "timestamp": _TIMESTAMP,
                "text": text_schema(),
                "attachments": attachments_schema(),
                "subject": {
                    "type": "string",
                    "maxLength": settings.MESSAGE_SUBJECT_MAX_CHARS,
                    "description": "An e-mail's subject line; the conversation keeps the first one.",
                },
                "html": {
                    "type": "string",
                    "maxLength": settings.MESSAGE_HTML_MAX_CHARS,
                    "description": "An e-mail's HTML body; sanitized to a safe subset on arrival. Send the "
                    "plain text too: `text` is the fallback and what search and routing read.",
                },
            },
            "anyOf": something_to_send(),
        },
        {
            "type": "object",
            "description": "A receipt of one of our outbound messages.",
            "required": ["type", "message_id"],
            "properties": {
                "type": {"type": "string", "enum": sorted(RECEIPT_TYPES)},
                "id": _ENTRY_ID,
                "timestamp": _TIMESTAMP,
                "message_id": {"type": "string"},
                "reason": {"description": "Why it failed: any value, kept as text to 300 characters"},
            },
        },
        {
            "type": "object",
            "description": "Typing started or stopped.",
            "required": ["type"],
            "properties": {
                "type": {"type": "string", "enum": list(TYPING_TYPES)},
                "id": _ENTRY_ID,
                "timestamp": _TIMESTAMP,
            },
        },
    ]


def entries_schema() -> dict:
    return {"type": "array", "minItems": 1, "maxItems": MAX_ENTRIES, "items": {"oneOf": entry_schemas()}}


def interaction_schema() -> dict:
    """The body of POST /api/v1/interactions/."""
    return {
        "type": "object",
        "required": ["to", "from", "entries"],
        "properties": {
            "to": {"type": "string", "description": "One of your channel_address_ids"},
            "from": {"type": "string", "minLength": 1, "maxLength": 300, "description": "The end user's address"},
            "from_name": {
                "type": "string",
                "nullable": True,
                "description": "The end user's name, kept to 200 characters",
            },
            "thread": {
                "type": "string",
                "maxLength": 200,
                "description": "Your thread key (e.g. an e-mail thread's first Message-ID): one open conversation "
                "per (to, from, thread). Leave it out for one conversation per end user (chat).",
            },
            "entries": entries_schema(),
        },
    }


def reply_schema() -> dict:
    """The agent's reply: text and attachments as an end user's message has them."""
    # attachments first: their problem's code is the one a reply answers with
    attachments = {**attachments_schema(), "nullable": False}  # the reply's serializer refuses null
    return {"properties": {"attachments": attachments, "text": text_schema()}, "anyOf": something_to_send()}


# --- sentences and codes -----------------------------------------------------------------------

# (field, jsonschema keyword) → (sentence, code); "*" is any keyword. A field is the last name on
# the path ("entries[]" for an entry itself). A null where a value is required reads as missing.
# Sentences are formatted with limits() at check time.
PROBLEMS: dict[tuple[str, str], tuple[str, str]] = {
    ("entries[]", "type"): ("must be an object", "invalid"),
    ("entries[]", "anyOf"): ("a message needs text or an attachment", "empty_message"),
    ("type", "*"): ("must be one of {entry_types}", "invalid"),
    ("id", "required"): ("is required: it makes re-sending safe", "invalid"),
    ("id", "*"): ("must be a string of 1 to 200 characters", "invalid"),
    ("timestamp", "*"): ("must be an ISO 8601 time with a zone, e.g. 2026-11-25T10:00:00Z", "invalid"),
    ("text", "*"): ("must be text of at most {max_chars} characters", "invalid"),
    ("attachments", "*"): ("must be a list of at most {max_attachments} attachments", "invalid"),
    ("attachments[]", "type"): ("must be an object with url, content_type, name, size", "invalid"),
    ("url", "*"): ("must be an http(s) URL", "invalid"),
    ("size", "maximum"): ("is over the limit of {max_bytes} bytes", "attachment_too_large"),
    ("size", "*"): ("must be a whole number of bytes", "invalid"),
    ("subject", "*"): ("must be text of at most {max_subject} characters", "invalid"),
    ("html", "*"): ("must be HTML of at most {max_html} characters", "invalid"),
    ("message_id", "*"): ("is required: the id of our outbound message", "invalid"),
    ("*", "required"): ("is required", "invalid"),
    ("*", "*"): ("must be text", "invalid"),  # to, from_name, content_type, name: a string (or null but to)
}
# Keywords whose failure makes the checks below that path moot (as for a list that is not one).
_SHAPE = {"type", "maxItems"}


def limits() -> dict:
    return {
        "entry_types": ", ".join(ENTRY_TYPES),
        "max_chars": settings.MESSAGE_MAX_CHARS,
        "max_attachments": MAX_ATTACHMENTS,
        "max_bytes": settings.ATTACHMENT_MAX_BYTES,
        "max_subject": settings.MESSAGE_SUBJECT_MAX_CHARS,
        "max_html": settings.MESSAGE_HTML_MAX_CHARS,
    }


@dataclass(frozen=True)
class Problem:
    path: str
    sentence: str
    code: str


def _valid_time(value) -> bool:
    if value is None:
        return True
    # ValueError (a well-formed but impossible time) is a failure too
    return _utc(parse_datetime(value)) is not None


def _utc(stamp: datetime | None) -> datetime | None:
    """The time in UTC (PostgreSQL refuses zone offsets past ±15:59, ISO 8601 allows up to ±23:59);
    None when it is not a time with a zone or falls outside the representable years."""
    if stamp is None or stamp.tzinfo is None:
        return None
    try:
        return stamp.astimezone(UTC)
    except OverflowError:
        return None


_formats = FormatChecker(formats=())
_formats.checks("date-time", raises=(ValueError, TypeError))(_valid_time)


def _type(validator, types, instance, schema):
    """`type`, with OpenAPI 3.0's `nullable` (the document is OpenAPI 3.0: no type lists)."""
    if instance is None and schema.get("nullable"):
        return
    yield from Draft202012Validator.VALIDATORS["type"](validator, types, instance, schema)


# JSON has one number type; an integer here is an int, not 1.0 (nor true)
_Validator = validators.extend(
    Draft202012Validator,
    validators={"type": _type},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, v: isinstance(v, int) and not isinstance(v, bool)
    ),
)


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _field(parts: list) -> str:
    if not parts:
        return ""
    if isinstance(parts[-1], int):
        return f"{parts[-2]}[]" if len(parts) > 1 else ""
    return str(parts[-1])


def _problem(parts: list, keyword: str, known: dict) -> Problem:
    name = _field(parts)
    row = PROBLEMS.get((name, keyword)) or PROBLEMS.get((name, "*"))
    row = row or PROBLEMS[("*", "required" if keyword == "required" else "*")]
    return Problem(_path(parts), row[0].format(**known), row[1])


@dataclass(frozen=True)
class _Checks:
    """The declaration's parts compiled into validators, once per settings values."""

    required: tuple
    envelope: Draft202012Validator
    from_: Draft202012Validator
    thread: Draft202012Validator
    entries: Draft202012Validator
    by_type: dict
    reply: Draft202012Validator
    known: dict


def _compile(schema: dict) -> Draft202012Validator:
    return _Validator(schema, format_checker=_formats)


@lru_cache(maxsize=8)
def _checks_for(_max_chars: int, _max_bytes: int, _max_subject: int, _max_html: int) -> _Checks:
    body = interaction_schema()
    entries = body["properties"]["entries"]
    return _Checks(
        required=tuple(body["required"]),
        envelope=_compile({"type": "object", "properties": {k: body["properties"][k] for k in ("to", "from_name")}}),
        from_=_compile(body["properties"]["from"]),
        thread=_compile(body["properties"]["thread"]),
        entries=_compile({k: v for k, v in entries.items() if k != "items"}),
        by_type={
            kind: _compile(schema)
            for schema in entries["items"]["oneOf"]
            for kind in schema["properties"]["type"]["enum"]
        },
        reply=_compile(reply_schema()),
        known=limits(),
    )


def _checks() -> _Checks:
    # keyed by the settings the declaration is built from: a changed setting gets its own validators
    return _checks_for(
        settings.MESSAGE_MAX_CHARS,
        settings.ATTACHMENT_MAX_BYTES,
        settings.MESSAGE_SUBJECT_MAX_CHARS,
        settings.MESSAGE_HTML_MAX_CHARS,
    )


def problems(validator: Draft202012Validator, value, *, at: tuple = ()) -> list[Problem]:
    """Every problem of `value` by path (one per path, the first), in schema order."""
    known = _checks().known
    found: list[tuple[list, str]] = []
    for error in validator.iter_errors(value):
        parts = [*at, *error.absolute_path]
        keyword = error.validator
        if keyword == "required":
            missing = [name for name in error.validator_value if name not in error.instance]
            found.extend(([*parts, name], "required") for name in missing)
        elif keyword == "type" and error.instance is None and parts and isinstance(parts[-1], str):
            found.append((parts, "required"))  # a null where a value is needed
        else:
            found.append((parts, keyword))
    moot = [parts for parts, keyword in found if keyword in _SHAPE]
    out: dict[str, Problem] = {}
    for parts, keyword in found:
        if any(len(parts) > len(m) and parts[: len(m)] == m for m in moot):
            continue
        problem = _problem(parts, keyword, known)
        out.setdefault(problem.path, problem)
    return list(out.values())


def _entry_problems(item, index: int) -> list[Problem]:
    at = ("entries", index)
    checks = _checks()
    if not isinstance(item, dict):
        return [_problem(list(at), "type", checks.known)]
    validator = checks.by_type.get(item.get("type"))
    if validator is None:
        return [_problem([*at, "type"], "enum", checks.known)]
    return problems(validator, item, at=at)


# --- the three checks, and what they hand on ----------------------------------------------------


def interaction_envelope_check(data) -> dict:
    """The body is an object with `to`, `from` and `entries` (types are the later checks' business,
    but for `to` and `from_name`). Returns the body."""
    body = data if isinstance(data, dict) else {}
    checks = _checks()
    missing = [name for name in checks.required if name not in body]
    if missing:
        raise Invalid(
            "to, from and entries are required.", code="invalid", details={k: ["is required"] for k in missing}
        )
    found = problems(checks.envelope, body)
    if found:
        raise Invalid("to and from_name must be text.", code="invalid", details={p.path: [p.sentence] for p in found})
    return body


def interaction_from_check(from_address) -> None:
    if problems(_checks().from_, from_address):
        raise Invalid("from must be the end user's address.", code="invalid", details={"from": ["is required"]})


def interaction_thread_check(thread) -> None:
    if problems(_checks().thread, thread):
        raise Invalid(
            "thread must be text of at most 200 characters.",
            code="invalid",
            details={"thread": ["must be text of at most 200 characters"]},
        )


@dataclass
class Entry:
    id: str | None
    type: str
    text: str = ""
    attachments: list[dict] = field(default_factory=list)
    message_id: str | None = None
    reason: str = ""
    timestamp: datetime | None = None
    subject: str = ""
    html: str = ""


def attachments_clean(raw) -> list[dict]:
    """Checked attachments as stored: defaults filled, lengths kept to the columns'."""
    return [
        {
            "url": item["url"],
            "content_type": str(item.get("content_type") or "application/octet-stream")[:100],
            "name": str(item.get("name") or "")[:200],
            "size": item.get("size"),
        }
        for item in raw or []
    ]


def entries_parse(raw) -> list[Entry]:
    """Check every entry before anything is stored; all problems at once, by path."""
    if problems(_checks().entries, raw):
        raise Invalid(
            f"entries must be a list of 1 to {MAX_ENTRIES} entries.",
            code="invalid",
            details={"entries": ["must be a non-empty list"]},
        )
    found = [p for index, item in enumerate(raw) for p in _entry_problems(item, index)]
    if found:
        codes = [p.code for p in found]
        code = next((c for c in codes if c != "invalid"), "invalid")
        raise Invalid(
            f"{len(found)} entry problem(s); see details.", code=code, details={p.path: [p.sentence] for p in found}
        )
    return [_entry(item) for item in raw]


def _entry(item: dict) -> Entry:
    stamp = item.get("timestamp")
    entry = Entry(id=item.get("id"), type=item["type"], timestamp=_utc(parse_datetime(stamp)) if stamp else None)
    if entry.type == "message":
        entry.text = item.get("text", "")
        entry.attachments = attachments_clean(item.get("attachments"))
        # an e-mail's: the subject on one line, the HTML sanitized here, on arrival
        entry.subject = " ".join(item.get("subject", "").split())
        entry.html = html_sanitize(item.get("html", ""))
    elif entry.type in RECEIPT_TYPES:
        entry.message_id = item["message_id"]
        entry.reason = str(item.get("reason") or "")[:300]
    return entry


def reply_problems(*, text, attachments) -> list[Problem]:
    """The agent's reply, by the same declaration; the caller words the empty case its own way."""
    body = {"text": text} if attachments is None else {"text": text, "attachments": attachments}
    return problems(_checks().reply, body)
