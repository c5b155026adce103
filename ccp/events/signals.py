"""In-process signal for higher apps: subscribe in `AppConfig.ready()`.

`event_committed` is sent once per published event after its transaction committed and its replay
id was assigned; `sender` is the event type string, kwarg `event` is the Event row. Receivers must
not raise (errors are logged, not propagated) and run outside the publisher's transaction.
"""

from django.dispatch import Signal

event_committed = Signal()
