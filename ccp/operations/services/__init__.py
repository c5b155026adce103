"""Writes of operations. Import from here: `from ccp.operations import services`.

- `realtime`: the supervisors' live snapshot, pushed over their websocket when routing or presence
  changes (`realtime_push_request`, throttled per tenant; `realtime_push`).
- `rollup`: the rollup of settled work that keeps the historical reports fast (`operations_rollup`).
"""

from .realtime import (
    REALTIME_EVENT_TYPES,
    realtime_push,
    realtime_push_request,
    sla_alerts_push,
    supervisors_group,
)
from .rollup import operations_rollup, operations_rollup_all

__all__ = [
    "REALTIME_EVENT_TYPES",
    "operations_rollup",
    "operations_rollup_all",
    "realtime_push",
    "realtime_push_request",
    "sla_alerts_push",
    "supervisors_group",
]
