"""Outcome scores (FIG 17, 0176, 0181): what a routed conversation teaches the tuning layer.

Each routed conversation gets one score in [0, 1] from routing's own records (routing/services/
ai_outcomes.py gathers them; this module is pure so it can be tested and simulated offline):

- abandoned after routing (the item was cancelled and nobody accepted it)  → 0: nothing to learn
  about which skill was right, and the route did not help;
- agent feedback (RouteFeedback, latest): resolved → base 1.0, unresolved → 0 (left out of training,
  as before: an unresolved route is not a label); no feedback → base 0.6 (unknown, but the
  conversation was served);
- a rating 1-5 on that feedback blends in: base × (0.6 + 0.1 × rating), i.e. 0.7 … 1.1, capped at 1;
- each transfer away from the first agent halves the score (× 0.5 per transfer): the first skill
  group was a worse choice, and the final agent's group — the label — is less certain;
- handle time (accept → close of the final work) longer than `target_seconds` × 0.8: a slow
  conversation is weak evidence that the skill fitted;
- first-contact resolution is not derivable from routing's records alone (routing cannot see the
  customer's next conversation), so it is not part of the score; `repeat_contact` is accepted for a
  caller that knows it (× 0.7).

The score is the training weight of the example (`TuningExample.weight`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

TARGET_HANDLE_SECONDS = 600.0
UNKNOWN_BASE = 0.6


@dataclass(frozen=True)
class OutcomeSignals:
    served: bool = True
    abandoned: bool = False
    resolved: bool | None = None
    rating: int | None = None
    transfers: int = 0
    handle_seconds: float | None = None
    repeat_contact: bool | None = None


def outcome_score(*, signals: OutcomeSignals, target_seconds: float = TARGET_HANDLE_SECONDS) -> float:
    """One routed conversation's outcome in [0, 1]; see the module docstring for the rule."""
    if signals.abandoned or not signals.served:
        return 0.0
    if signals.resolved is False:
        return 0.0
    score = 1.0 if signals.resolved else UNKNOWN_BASE
    if signals.rating is not None and 1 <= signals.rating <= 5:
        score = min(1.0, score * (0.6 + 0.1 * signals.rating))
    score *= 0.5 ** max(0, signals.transfers)
    if signals.handle_seconds is not None and signals.handle_seconds > target_seconds:
        score *= 0.8
    if signals.repeat_contact:
        score *= 0.7
    return round(score, 4)


def group_priors(
    *, first_routes: Sequence[tuple[str, bool]], strength: float = 20.0, low: float = 0.5, high: float = 1.5
) -> dict[str, float]:
    """Per skill group, how good a first choice it has been: from (first group, transferred away?)
    pairs, the share of its conversations that stayed, smoothed towards the overall share with
    `strength` pseudo-conversations, divided by the overall share, clipped to [low, high].

    The tuning layer multiplies its skill-group probabilities by these (TuningLayer.priors) and
    renormalises: a group whose conversations get transferred away loses the close calls, a group
    with few conversations stays near 1."""
    if not first_routes:
        return {}
    overall = sum(1 for _group, away in first_routes if not away) / len(first_routes)
    if overall <= 0:
        return {}
    counts: dict[str, list[int]] = {}
    for group, away in first_routes:
        entry = counts.setdefault(group, [0, 0])
        entry[0] += 0 if away else 1
        entry[1] += 1
    return {
        group: round(min(high, max(low, ((stayed + strength * overall) / (n + strength)) / overall)), 4)
        for group, (stayed, n) in sorted(counts.items())
    }


# --- ablation on a simulated history ---------------------------------------------------------------


@dataclass
class AblationResult:
    variant: str
    rows: int
    skill_accuracy: float
    skill_macro_f1: float
    note: str = ""


def simulate_history(
    *,
    rows: Sequence[Any],
    seed: int = 7,
    misroute: float = 0.3,
    feedback_share: float = 0.3,
    sink_share: float = 0.5,
) -> list[dict[str, Any]]:
    """A routing history for `rows` (objects with .text and .skill): what the label rule of
    routing/services/ai_training.py would read from it, and the outcome of each conversation.

    A share `misroute` of conversations first went to a wrong skill group. Half of those were
    transferred to the right group (the final agent's group — the label — is right, but the outcome
    shows the transfer); the other half stayed with the wrong agent (the label is wrong) and ended
    badly: abandoned (1/3), unresolved (1/3) or served slowly with a low rating (1/3). Agents give
    feedback on only `feedback_share` of conversations, as in production. A share `sink_share` of
    the misroutes go to one catch-all group (the first group by name, standing for an over-broad
    skill), the rest to a random wrong group. Each entry has the `first` group the route chose.
    """
    rng = random.Random(seed)
    groups = sorted({row.skill for row in rows})
    sink = groups[0]
    history = []
    for row in rows:
        feedback = rng.random() < feedback_share
        if rng.random() >= misroute:
            signals = OutcomeSignals(
                resolved=True if feedback else None,
                rating=rng.choice([4, 5]) if feedback else None,
                handle_seconds=rng.uniform(60, 500),
            )
            label = first = row.skill
        elif rng.random() < 0.5:
            signals = OutcomeSignals(
                resolved=True if feedback else None, transfers=1, handle_seconds=rng.uniform(200, 900)
            )
            label = row.skill
            first = _wrong(rng, groups, row.skill, sink, sink_share)
        else:
            label = first = _wrong(rng, groups, row.skill, sink, sink_share)
            kind = rng.randrange(3)
            if kind == 0:
                signals = OutcomeSignals(served=True, abandoned=True)
            elif kind == 1:
                signals = OutcomeSignals(resolved=False if feedback else None, handle_seconds=rng.uniform(300, 1200))
            else:
                signals = OutcomeSignals(
                    resolved=None, rating=1 if feedback else None, handle_seconds=rng.uniform(700, 1500)
                )
        history.append({"text": row.text, "label": label, "first": first, "signals": signals})
    return history


def _wrong(rng: random.Random, groups: Sequence[str], right: str, sink: str, sink_share: float) -> str:
    if right != sink and rng.random() < sink_share:
        return sink
    return rng.choice([group for group in groups if group != right])


def outcome_ablation(
    *, train: Sequence[Any], test: Sequence[Any], seed: int = 7, misroute: float = 0.3
) -> list[AblationResult]:
    """Train the tuning layer on a simulated history of `train` and measure each variant on `test`:
    every route weighted 1; weighted by agent feedback only (the format-1 rule); weighted by the
    outcome score; and the outcome score with the per-group priors (`group_priors`) applied to the
    skill choice. Skill groups only (a history has no intents)."""
    from sklearn.metrics import accuracy_score, f1_score

    from .tuning import TuningExample, feedback_weight, tune

    history = simulate_history(rows=train, seed=seed, misroute=misroute)
    wrong = sum(1 for entry, row in zip(history, train, strict=True) if entry["label"] != row.skill)
    variants = {
        "uniform": lambda s: 1.0,
        "feedback only": lambda s: feedback_weight(resolved=s.resolved),
        "outcome score": lambda s: outcome_score(signals=s),
    }
    truth = [row.skill for row in test]
    results = []
    priors = group_priors(first_routes=[(entry["first"], entry["signals"].transfers > 0) for entry in history])
    variants["outcome score + group priors"] = variants["outcome score"]
    model = None
    for name, weight in variants.items():
        examples = [
            TuningExample(text=entry["text"], label=entry["label"], weight=weight(entry["signals"]))
            for entry in history
        ]
        if name.endswith("group priors") and model is not None:  # the outcome-score model, with the priors
            model.priors = priors
        else:
            model = tune(examples=examples, seed=seed, refit=True)
        predicted = [model.predict(text=row.text, k=1)[0].label for row in test]
        kept = sum(1 for example in examples if example.weight > 0)
        results.append(
            AblationResult(
                variant=name,
                rows=len(test),
                skill_accuracy=round(float(accuracy_score(truth, predicted)), 4),
                skill_macro_f1=round(
                    float(f1_score(truth, predicted, labels=sorted(set(truth)), average="macro", zero_division=0)), 4
                ),
                note=f"{kept} of {len(examples)} routes kept; {wrong} wrong labels in the history"
                + (
                    "; priors " + ", ".join(f"{group} {value:.2f}" for group, value in priors.items())
                    if name.endswith("group priors")
                    else ""
                ),
            )
        )
    return results


def format_ablation(*, results: Sequence[AblationResult], misroute: float) -> str:
    header = ("weights", "rows", "skill acc", "skill F1", "note")
    lines = [
        [r.variant, str(r.rows), f"{r.skill_accuracy * 100:.1f}%", f"{r.skill_macro_f1 * 100:.1f}%", r.note]
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    table = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *lines]]
    intro = f"outcome ablation: simulated history, {misroute:.0%} of routes first sent to a wrong skill group"
    return "\n".join([intro, "", *table])
