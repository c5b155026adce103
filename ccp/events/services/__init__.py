"""Writes of the event bus. Import from here: `from ccp.events.services import event_publish`.

- `publish`: the transactional outbox, replay-id assignment after commit, the on-commit fan-out
  (agents' websockets, stream wake-ups, relay task). Its docstring explains the ordering.
- `push`: the agents' websocket pushes — the publisher thread, and the catch-up after a Redis outage.
- `webhooks`: relay into deliveries, signing, POSTing, retries and dead letters, subscriptions.
- `maintenance`: the Celery beat jobs (outbox sweep, retention pruning).
- `privacy`: erase requests (a person's data redacted from stored payloads).
"""

from .maintenance import events_prune, events_sweep
from .privacy import events_redact
from .publish import (
    REPLAY_LOCK_KEY,
    event_assign_replay_ids,
    event_fan_out,
    event_publish,
    event_publish_many,
    events_deferred,
    events_written,
    stream_channel,
    streams_wake_on_commit,
)
from .push import agent_group, monitor_group, push_frames_on_commit
from .webhooks import (
    delivery_attempt,
    delivery_redeliver,
    event_relay,
    retry_delay,
    subscription_create,
    subscription_delete,
    webhook_signature,
    webhook_url_check,
)

__all__ = [
    "REPLAY_LOCK_KEY",
    "agent_group",
    "delivery_attempt",
    "delivery_redeliver",
    "event_assign_replay_ids",
    "event_fan_out",
    "event_publish",
    "event_publish_many",
    "event_relay",
    "events_deferred",
    "events_prune",
    "events_redact",
    "events_sweep",
    "events_written",
    "monitor_group",
    "push_frames_on_commit",
    "retry_delay",
    "stream_channel",
    "streams_wake_on_commit",
    "subscription_create",
    "subscription_delete",
    "webhook_signature",
    "webhook_url_check",
]
