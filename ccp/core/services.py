"""Writes of the platform core: the lifecycle of stored Idempotency-Key rows."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import IdempotencyKey
from .redaction import redact_rows

PRUNE_CHUNK = 5000


def idempotency_prune() -> int:
    """Delete Idempotency-Key rows older than `IDEMPOTENCY_KEY_TTL` (24 h); returns how many.

    Run hourly by Celery beat (`core-idempotency-prune`) and by the in-process sweeper of the
    embedded mode; lookups ignore expired rows meanwhile, so a late prune changes nothing visible."""
    cutoff = timezone.now() - settings.IDEMPOTENCY_KEY_TTL
    deleted = 0
    while True:  # in chunks: short transactions on a table that grows with every keyed POST
        chunk = list(IdempotencyKey.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:PRUNE_CHUNK])
        if not chunk:
            return deleted
        deleted += IdempotencyKey.objects.filter(pk__in=chunk).delete()[0]


def idempotency_redact(*, references: Iterable[str], identifying: Iterable[str], needles: Iterable[str]) -> int:
    """Remove a person's data from stored responses (an erase request; see `redact_rows`).

    The rows stay, so a retry with the same key is still answered from its row, not run twice."""
    with transaction.atomic():
        return redact_rows(
            IdempotencyKey.objects.all(),
            "response_body",
            references=references,
            identifying=identifying,
            needles=needles,
        )
