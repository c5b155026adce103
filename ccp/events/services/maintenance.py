"""Celery beat jobs of the event bus: the outbox sweep and retention pruning."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from ..choices import DeliveryStatus
from ..models import Delivery, Event, ReplayWatermark
from .publish import event_fan_out
from .push import event_push_pending
from .webhooks import deliveries_enqueue, event_relay

# --- maintenance (Celery beat) --------------------------------------------------------------------


def events_sweep() -> dict:
    """Finish fan-outs that were lost between commit and enqueue (crash, killed worker, broker down).

    Older than `EVENTS_SWEEP_GRACE_SECONDS`: committed events still without a replay id are numbered
    and fanned out; numbered partner events never relayed are relayed; due deliveries whose task was
    lost are enqueued again (a claim prevents a duplicate task from sending concurrently); agents'
    websocket pushes that failed while Redis was down are sent again.
    """
    now = timezone.now()
    before = now - timedelta(seconds=settings.EVENTS_SWEEP_GRACE_SECONDS)
    batch = settings.EVENTS_SWEEP_BATCH
    unassigned = list(
        Event.objects.filter(replay_id__isnull=True, occurred_at__lte=before)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch]
    )
    numbered = event_fan_out(event_pks=unassigned) if unassigned else []
    unrelayed = list(
        Event.objects.filter(
            replay_id__isnull=False, relayed_at__isnull=True, partner__isnull=False, occurred_at__lte=before
        )
        .order_by("replay_id")
        .values_list("pk", flat=True)[:batch]
    )
    relayed = event_relay(event_pks=unrelayed) if unrelayed else []
    stuck = [
        str(pk)
        for pk in Delivery.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], next_attempt_at__lte=before
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch]
    ]
    deliveries_enqueue(stuck)
    pushed = event_push_pending(batch=batch)
    return {"numbered": len(numbered), "relayed_deliveries": len(relayed), "requeued": len(stuck), "pushed": pushed}


def events_prune() -> int:
    """Delete events older than `EVENTS_RETENTION`; raise the watermark that makes old cursors 410."""
    cutoff = timezone.now() - settings.EVENTS_RETENTION
    with transaction.atomic():
        # Raise the watermark first: from this commit on, cursors below it are refused (410), so
        # readers never get a page with holes while the rows below are being deleted.
        mark, _ = ReplayWatermark.objects.select_for_update().get_or_create(pk=1)
        through = Event.objects.filter(occurred_at__lt=cutoff, replay_id__isnull=False).aggregate(m=Max("replay_id"))[
            "m"
        ]
        if through is not None and through > mark.pruned_through:
            mark.pruned_through = through
            mark.save(update_fields=["pruned_through", "updated_at"])
        through = mark.pruned_through
    deleted = 0
    while True:  # in chunks: short transactions, bounded memory for the cascade to deliveries
        chunk = list(Event.objects.filter(replay_id__lte=through).values_list("pk", flat=True)[:5000])
        if not chunk:
            return deleted
        with transaction.atomic():
            deleted += Event.objects.filter(pk__in=chunk).delete()[1].get("events.Event", 0)
