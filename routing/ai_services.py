"""AI routing wired into the platform: the A/B arm, the AI plan of one route, feedback, training.

`work_route` (routing.services) asks `ai_route_plan` which agents to try first; the plan never
raises and never offers anything itself — every offer still goes through `work_offer`, which checks
capacity under the agent's row lock, so capacity holds across engines and channels (FIG 18, 0193).

Training (FIG 17, 0173-0176, 0181) turns the RouteDecision log into weighted examples: the text is
the customer's first message, the label the skill group of the agent who finally handled the
conversation (see `training_examples`), the weight `feedback_weight` of its latest RouteFeedback.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ccp.core.errors import Invalid
from ccp.packages.manifest import validate_manifest
from tenants.models import Tenant

from .ai.engine import ai_route_decide
from .ai.evaluation import load_mapping, load_rows
from .ai.prompts import (
    DEFAULT_PACKAGE_DRAFT_TEMPLATE,
    DEFAULT_ROUTING_TEMPLATE,
    DEFAULT_SUMMARY_TEMPLATE,
    draft_prompt_fill,
    prompt_template_check,
)
from .ai.provider import SYSTEM_MESSAGE, ProviderClient, ProviderNotConfigured, provider_from_settings
from .ai.summary import extractive_summary
from .ai.tuning import TunedModel as TuningLayer
from .ai.tuning import TuningExample, evaluate, feedback_weight, should_activate, stratified_split, tune
from .choices import WorkStatus
from .engines import Candidate
from .models import (
    AgentSkill,
    AgentWork,
    AiRoutingConfig,
    PromptTemplate,
    Queue,
    RouteDecision,
    RouteFeedback,
    TunedModel,
    WorkItem,
)

logger = logging.getLogger(__name__)

ARM_AI = "ai"
ARM_PLATFORM = "platform"


def _setting(name: str, default):
    return getattr(settings, name, default)


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


def _template(*, tenant_id, purpose: str, default: str) -> str:
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


def _group_target(config: AiRoutingConfig, group: str) -> dict:
    target = (config.skill_groups or {}).get(group)
    if isinstance(target, str):
        return {"skill": target, "level": 1}
    if isinstance(target, dict) and (target.get("queue") or target.get("skill")):
        return target
    return {"skill": group, "level": 1}


def _serving(config: AiRoutingConfig, group: str, candidates: Sequence[Candidate], tenant_id) -> list[Candidate]:
    """The candidates who can serve a predicted skill group: its skill at the level, or its queue's members."""
    target = _group_target(config, group)
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
        template = _template(
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


@transaction.atomic
def route_feedback_record(
    *,
    tenant: Tenant,
    work_item: WorkItem,
    source: str,
    resolved: bool,
    rating: int | None = None,
    comment: str = "",
) -> RouteFeedback:
    """Store whether a routed conversation ended resolved (0176): the weight of its route in training."""
    if work_item.tenant_id != tenant.pk:
        raise Invalid("This work item is not of this tenant.", code="invalid")
    if source not in RouteFeedback.Source.values:
        raise Invalid(f"Unknown feedback source {source!r}.", code="invalid_source")
    if rating is not None and not (isinstance(rating, int) and 1 <= rating <= 5):
        raise Invalid("A rating is a whole number from 1 to 5.", code="invalid", details={"rating": ["1 to 5"]})
    return RouteFeedback.objects.create(
        tenant=tenant,
        work_item=work_item,
        source=source,
        resolved=bool(resolved),
        rating=rating,
        comment=(comment or "")[:2000],
    )


# --- training (FIG 17) --------------------------------------------------------------------------------


def skill_groups_of(*, tenant: Tenant) -> dict[str, dict]:
    """The tenant's skill groups and where each goes: the configured mapping, else one group per skill."""
    config = ai_config_for(tenant_id=tenant.pk)
    if config and config.skill_groups:
        return {group: _group_target(config, group) for group in config.skill_groups}
    return {name: {"skill": name, "level": 1} for name in tenant.skills.values_list("name", flat=True)}


def _agent_group(*, groups: dict[str, dict], skills: dict[str, int], queues: set[str]) -> str | None:
    """The group an agent serves: their highest-level group skill (or a group's queue they are in);
    ties by group name, so the rule is deterministic."""
    ranked = []
    for group, target in groups.items():
        if target.get("queue"):
            if target["queue"] in queues:
                ranked.append((-1, group))
            continue
        level = skills.get(str(target.get("skill")), 0)
        if level >= int(target.get("level") or 1):
            ranked.append((-level, group))
    return min(ranked)[1] if ranked else None


def training_examples(*, tenant: Tenant, limit: int = 20000) -> list[TuningExample]:
    """Weighted examples from the tenant's routing history.

    The label rule: for each conversation's first routed work item (not a transfer) whose decision
    logged a first customer message, find the agent who finally held the conversation — the last
    accepted work among the items with the same reference (so a transfer counts for the agent it
    went to) that was not ended by a transfer. The label is that work item's group when its queue
    or required skill is a group, else the agent's group (their highest-level group skill). The
    weight is `feedback_weight` of the latest RouteFeedback on the conversation's items: resolved → 1,
    none → 0.5, unresolved → 0 (left out). Conversations nobody accepted teach nothing.
    """
    groups = skill_groups_of(tenant=tenant)
    if not groups:
        return []
    by_skill = {str(t.get("skill")): g for g, t in groups.items() if t.get("skill")}
    by_queue = {str(t.get("queue")): g for g, t in groups.items() if t.get("queue")}
    decisions = (
        RouteDecision.objects.filter(tenant=tenant, work_item__is_transfer=False)
        .exclude(work=None)
        .order_by("-created_at")
        .values_list("work_item_id", "work_item__reference", "inputs")[:limit]
    )
    texts: dict[str, str] = {}
    for _item_id, reference, inputs in reversed(list(decisions)):  # oldest first: the first offer's inputs
        text = str(((inputs or {}).get("attributes") or {}).get("first_message") or "").strip()
        if text and reference not in texts:
            texts[reference] = text
    if not texts:
        return []
    works = (
        AgentWork.objects.filter(
            tenant=tenant,
            work_item__reference__in=list(texts),
            status__in=[WorkStatus.ACCEPTED, WorkStatus.ACW, WorkStatus.CLOSED],
        )
        .exclude(reason="transferred")
        .select_related("work_item__queue")
        .order_by("answered_at")
    )
    final: dict[str, AgentWork] = {}
    for work in works:
        final[work.work_item.reference] = work  # the last one wins
    agent_ids = {w.agent_id for w in final.values()}
    skills: dict = {}
    for membership_id, name, level in AgentSkill.objects.filter(membership_id__in=agent_ids).values_list(
        "membership_id", "skill__name", "level"
    ):
        skills.setdefault(membership_id, {})[name] = level
    queues: dict = {}
    for membership_id, name in Queue.members.through.objects.filter(
        membership_id__in=agent_ids, queue__tenant=tenant
    ).values_list("membership_id", "queue__name"):
        queues.setdefault(membership_id, set()).add(name)
    latest: dict[str, bool] = {}
    for reference, resolved in (
        RouteFeedback.objects.filter(tenant=tenant, work_item__reference__in=list(texts))
        .order_by("created_at", "pk")
        .values_list("work_item__reference", "resolved")
    ):
        latest[reference] = resolved
    examples = []
    for reference, text in texts.items():
        work = final.get(reference)
        if work is None:
            continue
        served = work.work_item
        label = by_queue.get(served.queue.name) if served.queue_id else None
        if label is None:
            for requirement in served.required_skills or []:
                label = label or by_skill.get(str(requirement.get("skill")))
        if label is None:
            label = _agent_group(
                groups=groups, skills=skills.get(work.agent_id, {}), queues=queues.get(work.agent_id, set())
            )
        if label is None:
            continue
        examples.append(TuningExample(text=text, label=label, weight=feedback_weight(resolved=latest.get(reference))))
    return examples


@dataclass
class TrainingResult:
    record: TunedModel
    activated: bool
    active_metrics: dict | None
    summary: str


def tuned_model_train(
    *,
    tenant: Tenant,
    examples: Sequence[TuningExample] | None = None,
    source: str = "history",
    notes: str = "",
    validation_share: float = 0.2,
    seed: int = 7,
    min_gain: float = 0.0,
    max_rounds: int = 20,
) -> TrainingResult:
    """Train a candidate from the routing history (or given examples), store it, and activate it only
    when it beats the active model on the same held-out rows (the old one is then retired).

    Raises Invalid (`invalid_tuning_data`) when there is too little to learn from.
    """
    rows = list(examples) if examples is not None else training_examples(tenant=tenant)
    kept = [e for e in rows if e.weight > 0 and e.text.strip()]
    train, held_out = stratified_split(items=kept, key=lambda e: e.intent or e.label, share=validation_share, seed=seed)
    started = time.perf_counter()
    version = f"{tenant.slug}-{timezone.now().strftime('%Y%m%dT%H%M%S.%f')}"
    model = tune(examples=train, validation=held_out, seed=seed, max_rounds=max_rounds, version=version)
    model.metrics["rows_ignored"] = len(rows) - len(kept)
    seconds = time.perf_counter() - started
    active_record = TunedModel.objects.filter(tenant=tenant, status=TunedModel.Status.ACTIVE).first()
    active_metrics = None
    if active_record is not None:
        try:
            active = TuningLayer.from_bytes(data=bytes(active_record.data))
            active_metrics = evaluate(model=active, examples=held_out)
        except Invalid as exc:
            notes = f"{notes} The active model {active_record.version} could not be measured: {exc.message}".strip()
    activate = should_activate(candidate_metrics=model.metrics, active_metrics=active_metrics, min_gain=min_gain)
    with transaction.atomic():
        if activate and active_record is not None:
            TunedModel.objects.filter(tenant=tenant, status=TunedModel.Status.ACTIVE).update(
                status=TunedModel.Status.RETIRED
            )
        record = TunedModel.objects.create(
            tenant=tenant,
            version=version,
            status=TunedModel.Status.ACTIVE if activate else TunedModel.Status.CANDIDATE,
            source=source,
            metrics={**model.metrics, "active_on_same_rows": active_metrics},
            rows=len(rows),
            data=model.to_bytes(),
            training_seconds=round(seconds, 3),
            notes=notes,
        )
    accuracy = model.metrics.get("accuracy")
    if activate:
        summary = f"model {version} trained on {len(train)} rows, held-out accuracy {accuracy}; now active"
    else:
        summary = (
            f"model {version} trained on {len(train)} rows, held-out accuracy {accuracy}; kept as a candidate "
            f"(active model: {active_metrics.get('accuracy') if active_metrics else None} on the same rows)"
        )
    return TrainingResult(record=record, activated=activate, active_metrics=active_metrics, summary=summary)


def tuned_model_train_from_csv(
    *, tenant: Tenant, dataset: str, mapping: str | None = None, **options
) -> TrainingResult:
    """Bootstrap a fresh tenant from a labelled `text,category` CSV and an intent → skill-group mapping
    (BANKING77 and its bundled mapping are the public example)."""
    rows = load_rows(path=dataset, mapping=load_mapping(path=mapping))
    examples = [TuningExample(text=row.text, label=row.skill, intent=row.intent) for row in rows]
    return tuned_model_train(tenant=tenant, examples=examples, source="dataset", notes=f"from {dataset}", **options)


def tuned_model_train_due(*, tenant: Tenant, now: datetime | None = None) -> bool:
    """True when the tenant has at least AI_TRAINING_MIN_NEW_FEEDBACK new feedback rows since its last model."""
    last = TunedModel.objects.filter(tenant=tenant).order_by("-created_at").values_list("created_at", flat=True)
    since = last.first()
    feedback = RouteFeedback.objects.filter(tenant=tenant)
    if since is not None:
        feedback = feedback.filter(created_at__gt=since)
    return feedback.count() >= int(_setting("AI_TRAINING_MIN_NEW_FEEDBACK", 50))


# --- generated text: summaries and package drafts ----------------------------------------------------


def conversation_summary(*, tenant: Tenant, messages: Sequence[dict]) -> dict:
    """A generated summary when a provider is configured and answers; else the extractive one, saying so.

    Nothing here fakes generated text: `source` tells the reader which one they got.
    """
    provider = provider_from_settings()
    extractive = extractive_summary(messages=messages)
    if provider is None:
        return {
            "summary": extractive,
            "source": "extractive",
            "note": "The customer's own sentences. A generated summary needs a generative model: "
            "set AI_PROVIDER_BASE_URL and AI_PROVIDER_MODEL.",
        }
    template = _template(tenant_id=tenant.pk, purpose=PromptTemplate.Purpose.SUMMARY, default=DEFAULT_SUMMARY_TEMPLATE)
    try:
        prompt_template_check(purpose=PromptTemplate.Purpose.SUMMARY, template=template)
        return {"summary": provider.summarize(messages=messages, template=template), "source": "provider", "note": ""}
    except Exception as exc:  # the provider failed: show the quotes, and say why
        message = getattr(exc, "message", type(exc).__name__)
        return {"summary": extractive, "source": "extractive", "note": f"The generative model failed: {message}"}


def package_draft(*, description: str, partner_client_ids: set[str]) -> dict:
    """A draft package manifest generated from a partner's description (0115), validated, never created.

    Raises ProviderNotConfigured (503) without a provider, ProviderUnavailable (503) when it fails.
    The answer says what is wrong with the draft, so a person reviews it before creating a package.
    """
    provider = provider_from_settings()
    if provider is None:
        raise ProviderNotConfigured(
            "No generative model is configured, so a package cannot be drafted: set AI_PROVIDER_BASE_URL and "
            "AI_PROVIDER_MODEL, or write the manifest yourself (PARTNER_API.md)."
        )
    prompt = draft_prompt_fill(template=DEFAULT_PACKAGE_DRAFT_TEMPLATE, description=description)
    completion = provider.complete(
        messages=[{"role": "system", "content": SYSTEM_MESSAGE}, {"role": "user", "content": prompt}]
    )
    manifest = _first_json_object(completion)
    if manifest is None:
        problems = {"manifest": ["the model's answer holds no JSON object; try again or describe the channel more"]}
    else:
        problems = validate_manifest(manifest, partner_client_ids=partner_client_ids)
    return {
        "manifest": manifest,
        "problems": problems,
        "valid": manifest is not None and not problems,
        "model": provider.model,
    }


def _first_json_object(text: str) -> dict | None:
    decoder = json.JSONDecoder()
    for match in [m.group(1) for m in re.finditer(r"```(?:json|JSON)?\s*(.*?)```", text, re.DOTALL)] + [text]:
        for start in [i for i, char in enumerate(match) if char == "{"]:
            try:
                value, _end = decoder.raw_decode(match, start)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None
