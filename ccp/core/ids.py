"""The one id parser: what a client sends as an id (path segment, JSON value, query parameter)."""

from __future__ import annotations

import uuid


def parse_id(value) -> uuid.UUID | None:
    """`value` as a UUID, or None when it is not one (None, garbage, another type). A lookup by None
    matches no row, so `Model.objects.filter(pk=parse_id(raw))` is NotFound-safe for any input."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None
