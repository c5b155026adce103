"""The in-process signal of the event bus: how a higher app hears what a lower one did.

`events_committed` is sent once per batch of committed, numbered events (after commit, by the
process that committed them or the outbox sweep), with `events` (a list of Event rows). Receivers
are connected in their app's `AppConfig.ready()`, must be quick and must not raise (an error is
logged and the other notifications go on); delivery to them is best effort, like the websocket push.
"""

from django.dispatch import Signal

events_committed = Signal()
