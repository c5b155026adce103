"""Writes of the routing app: presence, work items, offers and their lifecycle, dispatch. Import from
here: `from routing import services` or `from routing.services import work_offer`.

- `presence`: agents' presence and capacity (`presence_set`, `capacity_set`).
- `work_items`: queueing, cancelling and erasing work items (`work_item_create`, `work_item_offer_direct`,
  `work_item_cancel`, `work_items_end`).
- `offers`: routing an item (`work_route`) and the offer lifecycle (offer, accept, decline, expiry,
  close, after-conversation work, release after a transfer).
- `partner`: partner-owned routing (`partner_route`; `events.partner_routing_request` asks).
- `dispatch`: batched dispatch rounds and their coalesced per-tenant requests.
- `timers`: tasks run at a given time after commit (offer expiry, end of ACW).
- `sweep`: the safety net behind the timers (`routing_sweep`).
- `events`: the routing events' payloads and their publishing.
- `ai_plan`: the AI arm of a route (A/B split, active tuned model, `ai_route_plan`).
- `ai_training`: route feedback and training tuned models (`tuned_model_train`).
- `ai_text`: generated text (`conversation_summary`).

The Django-free AI code these call (provider, prompts, the tuning layer, offline evaluation) is
`ccp.ai`; these modules are where it meets the database.

Modules depend one way: sweep, partner, work_items → offers → presence → dispatch → events, timers,
ai_training, ai_text → ai_plan
(and on routing.tasks, imported at module level; tasks import services inside their bodies).

Lock order — every transaction that locks routing rows takes them in this order, and never waits
for a second agent presence row:

    conversation (conversations' callers) → AgentWork → WorkItem → AgentPresence

- A transaction waits for at most one AgentPresence row lock. Every further presence row it takes —
  the next candidate when routing a new item (`work_route_item`), the dispatch round's agents, the
  previous agent's bookkeeping after a transfer (`_released`, in offers) — is taken `FOR NO KEY
  UPDATE SKIP LOCKED`: a busy row is passed over, never waited for. An item whose candidates were all busy stays queued,
  and a dispatch round is asked for after commit (`dispatch_on_commit`), so it waits in the queue
  rather than fail. Two transactions thus never wait for each other's presence rows, which is what
  deadlocked concurrent arrivals when they tried the same agents in different rank orders.
- `work_offer` locks the WorkItem row, then the agent's AgentPresence row, and counts the agent's
  holding work under that lock — so no agent exceeds capacity and no work item gets two active
  offers however many processes route at once (the partial unique constraint
  `one_active_work_per_item` is the last line of defence).
- Accept, decline, expiry, close and ACW lock the AgentWork row, then its WorkItem, then (at most)
  the agent's presence row.

Should PostgreSQL still detect a deadlock or a serialization failure, the API edge retries the whole
transaction a bounded number of times with jitter and then answers 503 `retry_later`
(`ccp.core.db.retry_on_conflict`); Celery tasks retry the same way.

Waiting work is dispatched in batched rounds (`routing_dispatch_round`): one short transaction locks
up to N queued items, then their candidate agents' presence rows, both `FOR NO KEY UPDATE SKIP
LOCKED`, counts those agents' holding work with one aggregate under the locks and assigns in memory.
A round never waits for a row lock, so it cannot deadlock with an accept (work → item → presence) or
anything else; what it skipped is taken by the next round, trigger or sweep. Capacity changes ask
for a round after commit through `dispatch_on_commit`: inline on the embedded default (eager
Celery), else one coalesced `routing_dispatch_task` per tenant (`dispatch_request`).
"""

from .ai_plan import (
    ARM_AI,
    ARM_PLATFORM,
    AiPlan,
    ab_arm,
    active_tuned_model,
    ai_config_for,
    ai_route_plan,
    conversation_characteristics,
)
from .ai_text import conversation_summary
from .ai_training import (
    TrainingResult,
    route_feedback_record,
    skill_groups_of,
    training_examples,
    tuned_model_train,
    tuned_model_train_due,
    tuned_model_train_from_csv,
)
from .dispatch import (
    DispatchRound,
    dispatch_on_commit,
    dispatch_request,
    routing_dispatch,
    routing_dispatch_requested,
    routing_dispatch_round,
)
from .offers import (
    work_accept,
    work_acw_end,
    work_acw_extend,
    work_close,
    work_decline,
    work_expire,
    work_expire_many,
    work_offer,
    work_release_for_transfer,
    work_route,
)
from .partner import (
    partner_route,
)
from .presence import (
    capacity_set,
    presence_set,
)
from .sweep import (
    routing_sweep,
)
from .work_items import (
    work_item_cancel,
    work_item_create,
    work_item_offer_direct,
    work_items_end,
    work_items_erase,
)

__all__ = [
    "ARM_AI",
    "ARM_PLATFORM",
    "AiPlan",
    "DispatchRound",
    "TrainingResult",
    "ab_arm",
    "active_tuned_model",
    "ai_config_for",
    "ai_route_plan",
    "capacity_set",
    "conversation_characteristics",
    "conversation_summary",
    "dispatch_on_commit",
    "dispatch_request",
    "partner_route",
    "presence_set",
    "route_feedback_record",
    "routing_dispatch",
    "routing_dispatch_requested",
    "routing_dispatch_round",
    "routing_sweep",
    "skill_groups_of",
    "training_examples",
    "tuned_model_train",
    "tuned_model_train_due",
    "tuned_model_train_from_csv",
    "work_accept",
    "work_acw_end",
    "work_acw_extend",
    "work_close",
    "work_decline",
    "work_expire",
    "work_expire_many",
    "work_item_cancel",
    "work_item_create",
    "work_item_offer_direct",
    "work_items_end",
    "work_items_erase",
    "work_offer",
    "work_release_for_transfer",
    "work_route",
]
