"""The AI arm of a route: the A/B split, the active tuned model (cached per process and version),
the prompt templates, and `ai_route_plan` — which agents to try first, never raising, never offering.

Every offer still goes through `work_offer`, which checks capacity under the agent's row lock, so
capacity holds across engines and channels (FIG 18, 0193)."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from ccp.ai.engine import ai_route_decide
from ccp.ai.prompts import (
    DEFAULT_ROUTING_TEMPLATE,
)
from ccp.ai.provider import ProviderClient, provider_from_settings
from ccp.ai.tuning import TuningLayer
from ccp.core.errors import Invalid

from ..engines import Candidate
from ..models import (
    AiRoutingConfig,
    PromptTemplate,
    Queue,
    TunedModel,
    WorkItem,
)

logger = logging.getLogger(__name__)


ARM_AI = "ai"


ARM_PLATFORM = "platform"


# --- the A/B arm --------------------------------------------------------------------------------------


def ai_config_for(*, tenant_id) -> AiRoutingConfig | None:
    return AiRoutingConfig.objects.filter(tenant_id=tenant_id).first()


def ab_arm(*, work_item_id, share: int) -> str:
    """`ai` for `share` % of work items, `platform` for the rest — a hash of the id, so a re-route of the
    same item (after a decline or a timeout) stays in its arm and the split needs no stored state."""
    bucket = int(hashlib.sha256(str(work_item_id).encode()).hexdigest()[:8], 16) % 100
    return ARM_AI if bucket < max(0, min(100, share)) else ARM_PLATFORM


# --- the active tuned model, loaded once per process and version ---------------------------------------


_models: dict[int, TuningLayer] = {}


_models_lock = threading.Lock()


def active_tuned_model(*, tenant_id) -> TuningLayer | None:
    """The tenant's active tuning layer. The bytes are read and unpickled once per model row and process
    (a row's bytes never change: a new version is a new row); the query for which row is active is cheap."""
    record = TunedModel.objects.filter(tenant_id=tenant_id, status=TunedModel.Status.ACTIVE).values("pk").first()
    if record is None:
        return None
    pk = record["pk"]
    with _models_lock:
        if pk in _models:
            return _models[pk]
    data = TunedModel.objects.filter(pk=pk).values_list("data", flat=True).first()
    if data is None:
        return None
    model = TuningLayer.from_bytes(data=bytes(data))
    with _models_lock:
        if len(_models) >= 64:  # many tenants or versions: start over rather than grow without bound
            _models.clear()
        _models[pk] = model
    return model


def prompt_template_text(*, tenant_id, purpose: str, default: str) -> str:
    text = (
        PromptTemplate.objects.filter(tenant_id=tenant_id, purpose=purpose, is_active=True)
        .values_list("template", flat=True)
        .first()
    )
    return text or default


# --- the AI plan of one route -------------------------------------------------------------------------


@dataclass
class AiPlan:
    """Whom the AI arm tries first (in order), or why it handed the route to the platform engine."""

    arm: str
    ranked: list[Candidate] = field(default_factory=list)
    reason: str = ""
    log: dict = field(default_factory=dict)

    @property
    def fallback(self) -> bool:
        return not self.ranked


def conversation_characteristics(*, work_item: WorkItem) -> dict:
    """What routing knows of the conversation, from the work item's attributes (filled by conversations)."""
    attributes = work_item.attributes or {}
    first = str(attributes.get("first_message") or "")
    return {
        "tenant": work_item.tenant.name if work_item.tenant_id else "",
        "channel": attributes.get("channel_name") or attributes.get("channel_type") or work_item.channel_type,
        "contact": {"name": attributes.get("contact_name") or ""},
        "messages": [{"sender": "customer", "text": first}] if first.strip() else [],
    }


def _agents(candidates: Sequence[Candidate]) -> list[dict]:
    return [
        {"id": str(c.membership_id), "name": c.name, "skills": c.skills, "load": c.used, "capacity": c.maximum}
        for c in candidates
    ]


def skill_group_target(config: AiRoutingConfig, group: str) -> dict:
    target = (config.skill_groups or {}).get(group)
    if isinstance(target, str):
        return {"skill": target, "level": 1}
    if isinstance(target, dict) and (target.get("queue") or target.get("skill")):
        return target
    return {"skill": group, "level": 1}


def _serving(config: AiRoutingConfig, group: str, candidates: Sequence[Candidate], tenant_id) -> list[Candidate]:
    """The candidates who can serve a predicted skill group: its skill at the level, or its queue's members."""
    target = skill_group_target(config, group)
    if target.get("queue"):
        queue = Queue.objects.filter(tenant_id=tenant_id, name=target["queue"]).first()
        if queue is None:
            return []
        members = set(queue.members.values_list("pk", flat=True))
        requirements = queue.required_skills or []
        return [
            c
            for c in candidates
            if (not members or c.membership_id in members)
            and all(c.skills.get(r.get("skill"), 0) >= int(r.get("level", 1)) for r in requirements if r.get("skill"))
        ]
    skill, level = str(target["skill"]), int(target.get("level") or 1)
    return [c for c in candidates if c.skills.get(skill, 0) >= level]


def ai_route_plan(
    *,
    work_item: WorkItem,
    candidates: list[Candidate],
    platform_ranked: list[Candidate],
    allow_provider: bool = True,
) -> AiPlan | None:
    """None when AI routing is off for the tenant (or the item is a transfer); else the arm and the plan.

    Never raises: any failure of a model, a provider or the configuration is a platform fallback with
    the reason in `AiPlan.reason`. `allow_provider=False` (dispatch rounds, which route many waiting
    items in one transaction) skips the generative call so a slow model cannot hold that transaction
    open item after item; the tuned model still decides.
    """
    if work_item.is_transfer:
        return None  # a transfer names its target (agent or queue): nothing to predict
    config = ai_config_for(tenant_id=work_item.tenant_id)
    if config is None or not config.enabled:
        return None
    arm = ab_arm(work_item_id=work_item.pk, share=config.share)
    if arm == ARM_PLATFORM:
        return AiPlan(arm=arm, reason=f"A/B: platform arm ({100 - config.share} % of traffic)")
    try:
        return _ai_plan(
            work_item=work_item,
            config=config,
            candidates=candidates,
            platform_ranked=platform_ranked,
            allow_provider=allow_provider,
        )
    except Exception as exc:  # an AI failure must never strand a conversation or break routing
        logger.exception("AI routing failed for work item %s", work_item.pk)
        return AiPlan(arm=arm, reason=f"AI failed ({type(exc).__name__}); platform routing", log={"error": str(exc)})


def _ai_plan(
    *,
    work_item: WorkItem,
    config: AiRoutingConfig,
    candidates: list[Candidate],
    platform_ranked: list[Candidate],
    allow_provider: bool,
) -> AiPlan:
    if not candidates:
        return AiPlan(arm=ARM_AI, reason="AI fallback: no agent with free capacity")
    provider: ProviderClient | None = provider_from_settings() if config.use_provider and allow_provider else None
    try:
        model = active_tuned_model(tenant_id=work_item.tenant_id)
    except Invalid as exc:  # stored with another scikit-learn version: retrain
        logger.warning("active tuned model of tenant %s unusable: %s", work_item.tenant_id, exc.message)
        model = None
    template = DEFAULT_ROUTING_TEMPLATE
    if provider is not None:  # only the generative step reads the tenant's routing template
        template = prompt_template_text(
            tenant_id=work_item.tenant_id, purpose=PromptTemplate.Purpose.ROUTING, default=DEFAULT_ROUTING_TEMPLATE
        )
    decision = ai_route_decide(
        conversation=conversation_characteristics(work_item=work_item),
        agents=_agents(candidates),
        model=model,
        provider=provider,
        template=template,
        min_probability=config.min_probability,
    )
    fallbacks = list(decision.fallbacks)
    if "generative:not_configured" in fallbacks and provider is None:  # say why no model was asked
        why = "off" if not config.use_provider else ("skipped_in_dispatch" if not allow_provider else "not_configured")
        fallbacks[fallbacks.index("generative:not_configured")] = f"generative:{why}"
    log = {
        "decided_by": decision.engine,
        "skill": decision.skill,
        "agent_id": decision.agent_id,
        "fallbacks": fallbacks,
        "predictions": [{"label": p.label, "probability": p.probability} for p in decision.predictions],
    }
    if decision.engine == "platform":
        return AiPlan(arm=ARM_AI, reason="AI fallback: " + ", ".join(fallbacks), log=log)

    by_id = {str(c.membership_id): c for c in candidates}
    order = {id(c): i for i, c in enumerate(platform_ranked)}
    serving = (
        _serving(config, decision.skill, candidates, work_item.tenant_id) if decision.skill else []
    )  # the platform's order among those who serve the predicted group
    serving.sort(key=lambda c: order.get(id(c), len(order)))
    chosen = by_id.get(str(decision.agent_id)) if decision.agent_id else None
    if decision.agent_id and chosen is None:  # belt and braces: the provider already checks agent ids
        return AiPlan(arm=ARM_AI, reason=f"AI fallback: proposed agent {decision.agent_id} is not a candidate", log=log)
    ranked = ([chosen] if chosen else []) + [c for c in serving if c is not chosen]
    if not ranked:
        return AiPlan(
            arm=ARM_AI,
            reason=f"AI fallback: no agent with room serves the predicted skill group {decision.skill!r}",
            log=log,
        )
    via = "generative model" if decision.engine == "generative" else "tuned model"
    what = f"skill group {decision.skill!r}" if decision.skill else f"agent {chosen.name}"
    reason = f"AI ({via}): {what}" + (f" — {decision.reason}" if decision.reason else "")
    if fallbacks:
        reason += f" [after {', '.join(fallbacks)}]"
    return AiPlan(arm=ARM_AI, ranked=ranked, reason=reason[:300], log=log)


# --- feedback -----------------------------------------------------------------------------------------
