"""Feedback and training (FIG 17, 0173-0176, 0181): the RouteDecision log becomes weighted examples —
the text is the customer's first message, the label the skill group of the agent who finally handled
the conversation (`training_examples`), the weight `feedback_weight` of its latest RouteFeedback —
and a new model is activated only when it beats the active one on held-out data."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ccp.ai.evaluation import load_mapping, load_rows
from ccp.ai.outcomes import OutcomeSignals, outcome_score
from ccp.ai.tuning import (
    TuningExample,
    TuningLayer,
    default_head,
    evaluate,
    should_activate,
    stratified_split,
    tune,
)
from ccp.core.errors import Invalid
from tenants.models import Tenant

from ..choices import WorkStatus
from ..models import (
    AgentSkill,
    AgentWork,
    Queue,
    RouteDecision,
    RouteFeedback,
    TunedModel,
    WorkItem,
)
from .ai_plan import ai_config_for, skill_group_target


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
        return {group: skill_group_target(config, group) for group in config.skill_groups}
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
    weight is the conversation's outcome score (ccp.ai.outcomes.outcome_score) from the latest
    RouteFeedback (resolved, rating), the transfers that followed and the final work's handle time
    (accepted → closed): resolved → 1, no feedback → 0.6, unresolved → 0 (left out), halved per
    transfer. Conversations nobody accepted (abandoned after routing) teach nothing.
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
    latest: dict[str, tuple[bool, int | None]] = {}
    for reference, resolved, rating in (
        RouteFeedback.objects.filter(tenant=tenant, work_item__reference__in=list(texts))
        .order_by("created_at", "pk")
        .values_list("work_item__reference", "resolved", "rating")
    ):
        latest[reference] = (resolved, rating)
    transfers = Counter(
        WorkItem.objects.filter(tenant=tenant, is_transfer=True, reference__in=list(texts)).values_list(
            "reference", flat=True
        )
    )
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
        resolved, rating = latest.get(reference, (None, None))
        handle = (work.closed_at - work.answered_at).total_seconds() if work.closed_at and work.answered_at else None
        signals = OutcomeSignals(
            resolved=resolved, rating=rating, transfers=transfers[reference], handle_seconds=handle
        )
        examples.append(TuningExample(text=text, label=label, weight=outcome_score(signals=signals)))
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
    head: str | None = None,
) -> TrainingResult:
    """Train a candidate from the routing history (or given examples), store it, and activate it only
    when it beats the active model on the same held-out rows (the old one is then retired).

    `head` None: `default_head()` — the ensemble with the sentence encoder when it is installed,
    else the SVM (the reason goes into the record's notes). Raises Invalid (`invalid_tuning_data`)
    when there is too little to learn from.
    """
    if head is None:
        head, reason = default_head()
        if reason:
            notes = f"{notes} Head svm, not ensemble: {reason}.".strip()
    rows = list(examples) if examples is not None else training_examples(tenant=tenant)
    kept = [e for e in rows if e.weight > 0 and e.text.strip()]
    train, held_out = stratified_split(items=kept, key=lambda e: e.intent or e.label, share=validation_share, seed=seed)
    started = time.perf_counter()
    version = f"{tenant.slug}-{timezone.now().strftime('%Y%m%dT%H%M%S.%f')}"
    model = tune(examples=train, validation=held_out, seed=seed, max_rounds=max_rounds, version=version, head=head)
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
    return feedback.count() >= int(settings.AI_TRAINING_MIN_NEW_FEEDBACK)
