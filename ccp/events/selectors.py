"""Reads of the event bus: replay pages, envelopes, a partner's subscriptions and deliveries."""

from __future__ import annotations

from datetime import UTC
from uuid import UUID

from django.db.models import Min, Prefetch, QuerySet

from ccp.core.errors import Gone, Invalid, NotFound
from ccp.packages.models import Partner

from .models import Delivery, DeliveryAttempt, Event, ReplayWatermark, Subscription

MAX_PAGE = 1000
MAX_CURSOR = 2**63 - 1


def event_envelope(event: Event) -> dict:
    """The public shape of an event (PARTNER_API.md): webhooks, replay, stream and websockets."""
    return {
        "id": event.replay_id,
        "type": event.type,
        "tenant": event.tenant.slug,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": event.data,
    }


def parse_cursor(value: str | None, *, name: str = "after") -> int | None:
    """`after` / `Last-Event-ID` as a replay id; None when absent. Malformed → Invalid(invalid_cursor)."""
    if value is None or value == "":
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or int(text) > MAX_CURSOR:
        raise Invalid(
            f"'{name}' must be a replay id: a non-negative integer from an event's 'id' or a page's 'next_after'.",
            code="invalid_cursor",
            details={name: value[:100]},
        )
    return int(text)


def parse_limit(value: str | None, *, default: int = 100) -> int:
    if value is None or value == "":
        return default
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise Invalid(
            f"'limit' must be an integer from 1 to {MAX_PAGE}.",
            code="invalid_limit",
            details={"limit": value},
        )
    return int(value)


def pruned_through() -> int:
    """The highest replay id removed by retention pruning (0 when nothing was pruned)."""
    mark = ReplayWatermark.objects.filter(pk=1).values_list("pruned_through", flat=True).first()
    return mark or 0


def replay_start(*, partner: Partner, after: int | None) -> int:
    """The cursor to read from. A cursor older than retention is refused, never answered empty.

    Pruning removes events by replay id up to a global watermark; a cursor below it may have missed
    pruned events, so it is refused with 410 `replay_expired` naming the earliest retained id.
    """
    through = pruned_through()
    if after is None:
        return through
    if after < through:
        earliest = (
            Event.objects.filter(partner=partner, replay_id__gt=through).aggregate(m=Min("replay_id"))["m"]
            or through + 1
        )
        raise Gone(
            f"Events after {after} are older than the retention period and were removed; the earliest "
            f"retained event is {earliest}. Resume with after={through} (and reconcile the gap).",
            code="replay_expired",
            details={"earliest_id": earliest, "resume_after": through, "after": after},
        )
    return after


def event_page(*, partner: Partner | None = None, partner_id=None, after: int, limit: int) -> list[Event]:
    """The partner's (given as the row or its id) events with a replay id above `after`, oldest first.

    Only events whose replay id was assigned (after their commit) are visible, and ids are assigned in
    commit order, so a cursor never skips an event that commits later (see services/publish.py).
    """
    return list(
        Event.objects.filter(partner_id=partner.pk if partner is not None else partner_id, replay_id__gt=after)
        .select_related("tenant")
        .order_by("replay_id")[:limit]
    )


def subscription_list(*, partner: Partner) -> QuerySet[Subscription]:
    return Subscription.objects.filter(partner=partner).order_by("created_at")


def access_subscription(*, partner: Partner, subscription_id: UUID | str) -> Subscription:
    """The partner's subscription; another partner's is NotFound, the same as a missing one."""
    subscription = Subscription.objects.filter(partner=partner, pk=subscription_id).first()
    if subscription is None:
        raise NotFound("No such subscription.", code="not_found")
    return subscription


def delivery_list(*, subscription: Subscription, limit: int = 100) -> list[Delivery]:
    return list(
        Delivery.objects.filter(subscription=subscription)
        .select_related("event")
        .prefetch_related(Prefetch("attempts", queryset=DeliveryAttempt.objects.order_by("attempted_at", "id")))
        .order_by("-created_at")[:limit]
    )


def access_delivery(*, subscription: Subscription, delivery_id: UUID | str) -> Delivery:
    delivery = Delivery.objects.filter(subscription=subscription, pk=delivery_id).select_related("event").first()
    if delivery is None:
        raise NotFound("No such delivery.", code="not_found")
    return delivery
