"""Erase requests reaching the event bus: a person's data removed from stored event payloads."""

from __future__ import annotations

from collections.abc import Iterable

from ccp.core.redaction import redact_rows
from tenants.models import Tenant

from ..models import Event


def events_redact(
    *, tenant: Tenant, references: Iterable[str], identifying: Iterable[str], needles: Iterable[str]
) -> int:
    """Redact the payloads of the tenant's events about a person (see `ccp.core.redaction.redact_rows`).

    Events keep their type, replay id and ids, so cursors and deliveries stay consistent; a
    delivery resent later carries the redacted payload. Returns how many events changed."""
    return redact_rows(
        Event.objects.filter(tenant=tenant), "data", references=references, identifying=identifying, needles=needles
    )
