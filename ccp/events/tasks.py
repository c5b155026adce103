"""Celery tasks of the event bus: each takes ids and calls one service."""

from celery import shared_task

from . import services


@shared_task(name="events.relay", ignore_result=True)
def events_relay_task(event_pks: list[int]) -> None:
    services.event_relay(event_pks=event_pks, deliver_now=True)


@shared_task(name="events.deliver", ignore_result=True)
def delivery_attempt_task(delivery_id: str) -> None:
    services.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="events.sweep", ignore_result=True)
def events_sweep_task() -> None:
    services.events_sweep()


@shared_task(name="events.prune", ignore_result=True)
def events_prune_task() -> None:
    services.events_prune()
