"""Writes of operations. Import from here: `from ccp.operations import services`.

- `realtime`: the supervisors' live snapshot, pushed over their websocket when routing or presence
  changes (`realtime_push_request`, throttled per tenant; `realtime_push`).
"""

from .realtime import REALTIME_EVENT_TYPES, realtime_push, realtime_push_request, supervisors_group

__all__ = ["REALTIME_EVENT_TYPES", "realtime_push", "realtime_push_request", "supervisors_group"]
