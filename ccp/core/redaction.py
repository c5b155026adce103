"""Redacting personal data inside stored JSON (event payloads, stored responses, routing inputs).

An erase request names the person by *needles* (their name, addresses, the texts they wrote) and
the rows that are about them by *references* (ids of their contact, conversations, sessions…).
`redact_json` rewrites a JSON value: every string containing a needle becomes `REDACTED`, and the
values of keys that carry personal data (`PERSONAL_KEYS`) are emptied whatever they hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q, TextField
from django.db.models.functions import Cast

REDACTED = "[erased]"

# Keys whose values are personal data in the payloads and responses we store (contact and message
# fields of events, work item attributes, stored API responses, feedback).
PERSONAL_KEYS = frozenset(
    {
        "address",
        "addresses",
        "attachments",
        "comment",
        "contact_name",
        "end_user",
        "end_user_address",
        "first_message",
        "from",
        "from_name",
        "name",
        "preview",
        "sender_name",
        "summary",
        "text",
        "transcript",
    }
)

# A needle shorter than this is matched only as a whole string ("ok" must not erase "book").
MIN_SUBSTRING = 4


def clean_needles(values: Iterable[Any]) -> list[str]:
    """Distinct non-blank strings, longest first (so a name is replaced before a part of it)."""
    seen = {str(v).strip() for v in values if v is not None and str(v).strip()}
    return sorted(seen, key=len, reverse=True)


def _redact_string(value: str, needles: list[str]) -> str:
    folded = value.casefold()
    for needle in needles:
        n = needle.casefold()
        if folded == n or (len(n) >= MIN_SUBSTRING and n in folded):
            return REDACTED
    return value


def _empty(value: Any) -> Any:
    if isinstance(value, str):
        return REDACTED if value else value
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    return value


def redact_json(value: Any, needles: list[str], *, by_key: bool = True) -> Any:
    """`value` with the personal data removed (see the module docstring); the input is not changed.

    `by_key=False` only replaces needles: for rows selected by a needle rather than a reference,
    whose other fields (another contact's name, say) are not this person's.
    """
    if isinstance(value, dict):
        return {
            k: _empty(v) if by_key and k in PERSONAL_KEYS else redact_json(v, needles, by_key=by_key)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_json(v, needles, by_key=by_key) for v in value]
    if isinstance(value, str):
        return _redact_string(value, needles)
    return value


def redact_rows(queryset, field: str, *, references: Iterable[str], identifying: Iterable[str], needles) -> int:
    """Redact the JSON `field` of the rows of `queryset` that are about a person; returns rows changed.

    Rows whose `field` mentions one of `references` (ids of the person's contact, conversations,
    work…) lose every personal field and every string containing a needle. Rows that mention only
    an `identifying` string (the person's name or address) lose just the strings containing a
    needle. Selection is a text scan of the column, meant for erase requests on tables bounded by
    retention; the caller runs it inside its transaction."""
    references = clean_needles(references)
    identifying = [n for n in clean_needles(identifying) if len(n) >= MIN_SUBSTRING]
    needles = clean_needles([*needles, *identifying])
    terms = [*references, *identifying]
    if not terms:
        return 0
    alias = f"_{field}_text"
    q = Q(pk__in=[])
    for term in terms:
        q |= Q(**{f"{alias}__icontains": term})
    changed = 0
    model = queryset.model
    for pk, value, text in (
        queryset.annotate(**{alias: Cast(field, TextField())}).filter(q).values_list("pk", field, alias)
    ):
        folded = (text or "").casefold()
        by_key = any(ref.casefold() in folded for ref in references)
        redacted = redact_json(value, needles, by_key=by_key)
        if redacted != value:
            model.objects.filter(pk=pk).update(**{field: redacted})
            changed += 1
    return changed
