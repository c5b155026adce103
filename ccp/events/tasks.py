"""Celery tasks of the event bus: each takes ids and calls one service.

Thin interfaces: the services import these tasks at module level; the tasks import the services
inside their bodies, so the two modules never import each other at load time.
"""

from celery import shared_task


@shared_task(name="events.relay", ignore_result=True)
def events_relay_task(event_pks: list[int]) -> None:
    from . import services

    services.event_relay(event_pks=event_pks, deliver_now=True)


@shared_task(name="events.deliver", ignore_result=True)
def delivery_attempt_task(delivery_id: str) -> None:
    from . import services

    services.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="events.sweep", ignore_result=True)
def events_sweep_task() -> None:
    from . import services

    services.events_sweep()


@shared_task(name="events.prune", ignore_result=True)
def events_prune_task() -> None:
    from . import services

    services.events_prune()
