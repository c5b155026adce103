"""What operations does when the event bus reports committed events (connected in apps.py)."""

from __future__ import annotations


def events_committed_push(*, events, **_kwargs) -> None:
    """Routing or presence changed: ask for a live snapshot push for each tenant concerned. An SLA
    warning or breach goes to the tenant's supervisors at once, as an `sla.alert` frame."""
    from .services import REALTIME_EVENT_TYPES, realtime_push_request, sla_alerts_push

    for tenant_id in {e.tenant_id for e in events if e.type in REALTIME_EVENT_TYPES}:
        realtime_push_request(tenant_id=tenant_id)
    sla_alerts_push(events=events)
