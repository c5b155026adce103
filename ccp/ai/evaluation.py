"""Offline evaluation of the routing engines on labelled public data (e.g. BANKING77).

Each row is a customer's first message and its intent; an intent → skill-group mapping says which
skill the conversation needs. A router is right when it sends the conversation to that skill group.
The same seeded, stratified split feeds every engine, so their figures are comparable:

- `skills_baseline` — classic skills routing: per-skill keyword lists (the most distinctive words of
  each skill's training rows), the skill whose keywords match best wins, no match → the busiest skill;
- `tuned_model` — the tuning layer (ccp.ai.tuning), skill group and intent; its head is
  `default_head()` unless named: "ensemble" when the sentence encoder is installed, else "svm";
- `generative` — the configured chat-completions provider choosing among one agent per skill group
  (skipped when none is configured; each fallback counts as a miss).

Latency is per row, one call at a time, as the live router would make it; so is the CPU time
(`time.process_time`), which a shared machine does not inflate the way it inflates wall time.
"""

from __future__ import annotations

import csv
import json
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccp.core.errors import Invalid

from .provider import ProviderClient
from .summary import content_words
from .tuning import TuningExample, default_head, stratified_split, tune

DEFAULT_MAPPING = Path(__file__).parent / "data" / "banking77_skill_groups.json"
TARGETS = {"skill_accuracy": 0.95, "intent_accuracy": 0.935, "p99_ms": 10.0, "train_seconds": 300.0}


@dataclass(frozen=True)
class Row:
    text: str
    intent: str
    skill: str


@dataclass
class EngineResult:
    engine: str
    rows: int
    skill_accuracy: float | None = None
    skill_macro_f1: float | None = None
    intent_accuracy: float | None = None
    intent_macro_f1: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    train_seconds: float | None = None
    note: str = ""
    p50_cpu_ms: float | None = None
    p99_cpu_ms: float | None = None


@dataclass
class EvaluationReport:
    dataset: str
    test_dataset: str
    rows: int
    rows_train: int
    rows_validation: int
    skill_groups: int
    intents: int
    validation_share: float
    seed: int
    engines: list[EngineResult] = field(default_factory=list)
    targets: dict[str, float] = field(default_factory=lambda: dict(TARGETS))

    def as_dict(self) -> dict[str, Any]:
        return {
            **{key: value for key, value in self.__dict__.items() if key != "engines"},
            "engines": [engine.__dict__ for engine in self.engines],
        }


class KeywordRouter:
    """Rule-based skills routing: each skill has a keyword list; the best-matching skill wins.

    The lists are what an admin would write by hand, derived here from the training rows so the
    baseline is fair and reproducible: for each skill the words with the highest
    `share of the skill's rows containing the word × log(lift over all rows)`.
    """

    def __init__(self, *, keywords: dict[str, dict[str, float]], default: str):
        self.keywords = keywords
        self.default = default

    @classmethod
    def build(cls, *, texts: Sequence[str], labels: Sequence[str], per_label: int = 25) -> KeywordRouter:
        rows_per_label = Counter(labels)
        document_frequency: Counter[str] = Counter()
        label_frequency: dict[str, Counter[str]] = defaultdict(Counter)
        for text, label in zip(texts, labels, strict=True):
            words = set(content_words(text))
            document_frequency.update(words)
            label_frequency[label].update(words)
        total = len(texts)
        keywords: dict[str, dict[str, float]] = {}
        for label in sorted(rows_per_label):
            scored = []
            for word, count in label_frequency[label].items():
                share = count / rows_per_label[label]
                lift = share / (document_frequency[word] / total)
                if count >= 2 and lift > 1:
                    scored.append((share * math.log(lift), word))
            scored.sort(key=lambda item: (-item[0], item[1]))
            keywords[label] = {word: round(score, 6) for score, word in scored[:per_label]}
        default = sorted(rows_per_label, key=lambda label: (-rows_per_label[label], label))[0]
        return cls(keywords=keywords, default=default)

    def route(self, *, text: str) -> str:
        words = set(content_words(text))
        best, best_score = self.default, 0.0
        for label, keywords in self.keywords.items():
            score = sum(weight for word, weight in keywords.items() if word in words)
            if score > best_score:
                best, best_score = label, score
        return best


def load_mapping(*, path: str | Path | None = None) -> dict[str, str]:
    """intent → skill group, from `{"groups": {group: [intent, …]}}` or a flat `{intent: group}`."""
    source = Path(path) if path else DEFAULT_MAPPING
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Invalid(f"Cannot read the mapping file {source}: {exc}", code="invalid_mapping") from None
    if isinstance(data, dict) and isinstance(data.get("groups"), dict):
        mapping: dict[str, str] = {}
        for group, intents in data["groups"].items():
            for intent in intents:
                if intent in mapping:
                    raise Invalid(f"Intent {intent!r} is in two skill groups.", code="invalid_mapping")
                mapping[str(intent)] = str(group)
        return mapping
    if isinstance(data, dict) and all(isinstance(value, str) for value in data.values()):
        return {str(key): value for key, value in data.items()}
    raise Invalid(
        'A mapping is {"groups": {group: [intent, ...]}} or {intent: group}.',
        code="invalid_mapping",
    )


def load_rows(*, path: str | Path, mapping: dict[str, str]) -> list[Row]:
    """`text,category` rows; every category must be in the mapping (the unknown ones are named)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"text", "category"} <= set(reader.fieldnames):
                raise Invalid(f"{path} must have the columns text,category.", code="invalid_dataset")
            raw = [(row["text"] or "", row["category"] or "") for row in reader]
    except OSError as exc:
        raise Invalid(f"Cannot read the dataset {path}: {exc}", code="invalid_dataset") from None
    unknown = sorted({category for _text, category in raw} - mapping.keys())
    if unknown:
        shown = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise Invalid(
            f"{len(unknown)} categories are not in the mapping: {shown}",
            code="invalid_mapping",
            details={"unknown": unknown},
        )
    return [Row(text=text, intent=category, skill=mapping[category]) for text, category in raw if text.strip()]


def evaluate_routing(
    *,
    rows: Sequence[Row],
    dataset: str = "",
    validation_share: float = 0.2,
    seed: int = 7,
    provider: ProviderClient | None = None,
    provider_limit: int = 200,
    test_rows: Sequence[Row] | None = None,
    test_dataset: str = "",
    heads: Sequence[str] | None = None,
) -> EvaluationReport:
    """Split once, then measure every engine on the same validation rows.

    With `test_rows` (the official protocol: train on one file, report on another) nothing is split:
    every engine learns from all of `rows` and is measured on all of `test_rows`.
    """
    if test_rows is None:
        train, validation = stratified_split(items=rows, key=lambda row: row.intent, share=validation_share, seed=seed)
    else:
        train, validation = list(rows), list(test_rows)
        validation_share = 0.0
        unseen = sorted({row.intent for row in validation} - {row.intent for row in train})
        if unseen:
            raise Invalid(
                f"{len(unseen)} test categories never occur in the training file: {', '.join(unseen[:10])}",
                code="invalid_dataset",
                details={"unseen": unseen},
            )
    if not validation:
        raise Invalid("Too few rows per category to hold any out for validation.", code="invalid_dataset")
    report = EvaluationReport(
        dataset=dataset,
        test_dataset=test_dataset,
        rows=len(rows) + (len(test_rows) if test_rows is not None else 0),
        rows_train=len(train),
        rows_validation=len(validation),
        skill_groups=len({row.skill for row in rows}),
        intents=len({row.intent for row in rows}),
        validation_share=validation_share,
        seed=seed,
    )
    truth = [row.skill for row in validation]
    head_note = ""
    if not heads:
        chosen, reason = default_head()
        heads = [chosen]
        head_note = f" (not ensemble: {reason})" if reason else ""

    started = time.perf_counter()
    baseline = KeywordRouter.build(texts=[row.text for row in train], labels=[row.skill for row in train])
    baseline_seconds = time.perf_counter() - started
    predicted, latencies, cpu = _timed(lambda text: baseline.route(text=text), validation)
    report.engines.append(
        _result(
            "skills_baseline",
            truth,
            predicted,
            latencies,
            train_seconds=baseline_seconds,
            note="keyword rules",
            cpu=cpu,
        )
    )

    for head in heads:
        # The tuning layer never sees the validation/test rows: it holds out part of `train` for its own
        # calibration and early stopping, then refits on all of `train` (refit=True).
        model = tune(
            examples=[TuningExample(text=row.text, label=row.skill, intent=row.intent) for row in train],
            seed=seed,
            head=head,
            refit=True,
        )
        # load the encoder once, as a live process does on first use (a text of its own: predict keeps its
        # answers, and a timed row answered from that memo would time nothing)
        model.predict(text="warming up the model", k=1)
        predicted, latencies, cpu = _timed(lambda text, model=model: model.predict(text=text, k=1)[0].label, validation)
        name = "tuned_model" if head == heads[0] else f"tuned_model_{head}"
        tuned = _result(name, truth, predicted, latencies, train_seconds=model.metrics["seconds"], cpu=cpu)
        tuned.intent_accuracy, tuned.intent_macro_f1 = _intent_scores(model, validation)
        tuned.note = f"head {head}, {model.metrics['rounds']} round(s), temperature {model.metrics['temperature']}"
        if "svm_weight" in model.metrics:
            tuned.note += (
                f", SVM weight {model.metrics['svm_weight']}, embedding {model.metrics['embedding_seconds']} s"
            )
        if head == heads[0]:
            tuned.note += head_note
        report.engines.append(tuned)

    if provider is None:
        report.engines.append(
            EngineResult(engine="generative", rows=0, note="skipped: no provider (set AI_PROVIDER_BASE_URL/_MODEL)")
        )
    else:
        report.engines.append(_generative(provider=provider, validation=validation, limit=provider_limit, seed=seed))
    return report


def format_report(*, report: EvaluationReport) -> str:
    """A plain-text table for a terminal, followed by the targets and whether they were met."""
    header = (
        "engine",
        "rows",
        "skill acc",
        "skill F1",
        "intent acc",
        "intent F1",
        "p50 ms",
        "p99 ms",
        "train s",
        "p99 cpu ms",
        "note",
    )
    lines = [
        [
            engine.engine,
            str(engine.rows),
            _pct(engine.skill_accuracy),
            _pct(engine.skill_macro_f1),
            _pct(engine.intent_accuracy),
            _pct(engine.intent_macro_f1),
            _num(engine.p50_ms, 3),
            _num(engine.p99_ms, 3),
            _num(engine.train_seconds, 2),
            _num(engine.p99_cpu_ms, 3),
            engine.note,
        ]
        for engine in report.engines
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    table = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *lines]]
    if report.test_dataset:
        intro = (
            f"train {report.dataset} ({report.rows_train} rows), test {report.test_dataset} "
            f"({report.rows_validation} rows): {report.intents} intents, {report.skill_groups} skill groups"
        )
    else:
        intro = (
            f"dataset {report.dataset or '-'}: {report.rows} rows, {report.intents} intents, {report.skill_groups} "
            f"skill groups; train {report.rows_train} / validation {report.rows_validation} "
            f"(share {report.validation_share}, seed {report.seed})"
        )
    tuned = next((engine for engine in report.engines if engine.engine == "tuned_model"), None)
    targets = []
    if tuned is not None:
        checks = [
            (
                f"skill-group accuracy >= {TARGETS['skill_accuracy']:.0%}",
                tuned.skill_accuracy,
                TARGETS["skill_accuracy"],
            ),
            (f"intent accuracy >= {TARGETS['intent_accuracy']:.1%}", tuned.intent_accuracy, TARGETS["intent_accuracy"]),
        ]
        for label, value, target in checks:
            targets.append(f"  {label}: {'met' if value is not None and value >= target else 'NOT met'}")
        p99_met = tuned.p99_ms is not None and tuned.p99_ms <= TARGETS["p99_ms"]
        targets.append(f"  p99 inference <= {TARGETS['p99_ms']:g} ms: {'met' if p99_met else 'NOT met'}")
        train_met = tuned.train_seconds is not None and tuned.train_seconds < TARGETS["train_seconds"]
        targets.append(
            f"  training < {TARGETS['train_seconds']:g} s: {'met' if train_met else 'NOT met'} "
            f"(on {report.rows_train} rows)"
        )
    return "\n".join([intro, "", *table, "", "targets (tuned_model, printed, not enforced):", *targets])


def _generative(*, provider: ProviderClient, validation: Sequence[Row], limit: int, seed: int) -> EngineResult:
    """One agent per skill group; the model must pick the agent (or skill) the conversation needs."""
    sample = list(validation)
    random.Random(seed).shuffle(sample)
    sample = sample[: max(1, limit)]
    skills = sorted({row.skill for row in validation})
    agents = [
        {
            "id": f"agent_{skill}",
            "name": skill.replace("_", " ").title(),
            "skills": {skill: 5},
            "load": 0,
            "capacity": 3,
        }
        for skill in skills
    ]
    truth, predicted, latencies = [], [], []
    fallbacks: Counter[str] = Counter()
    for row in sample:
        started = time.perf_counter()
        choice = provider.route(
            conversation={"tenant": "a retail bank", "channel": "web chat", "messages": [{"text": row.text}]},
            agents=agents,
            skills=skills,
        )
        latencies.append((time.perf_counter() - started) * 1000)
        truth.append(row.skill)
        if choice.fallback:
            fallbacks[choice.fallback_reason or "unknown"] += 1
            predicted.append("(fallback)")
        elif choice.agent_id:
            predicted.append(choice.agent_id.removeprefix("agent_"))
        else:
            predicted.append(choice.skill or "(fallback)")
    result = _result(f"generative ({provider.model})", truth, predicted, latencies, train_seconds=None)
    result.note = f"{sum(fallbacks.values())} fallbacks" + (
        " (" + ", ".join(f"{reason} {count}" for reason, count in sorted(fallbacks.items())) + ")" if fallbacks else ""
    )
    return result


def _intent_scores(model: Any, rows: Sequence[Row]) -> tuple[float | None, float | None]:
    from sklearn.metrics import accuracy_score, f1_score

    if not model.intents:
        return None, None
    truth = [row.intent for row in rows]
    # one batch (the per-row latency was measured on the skill predictions): the same argmax
    predicted = model._intent_head.predict(model._inputs([row.text for row in rows]))
    return (
        round(float(accuracy_score(truth, predicted)), 4),
        round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
    )


def _timed(route: Any, rows: Sequence[Row]) -> tuple[list[str], list[float], list[float]]:
    """Predictions, wall milliseconds and CPU milliseconds (this process, all its threads) per row."""
    predicted, latencies, cpu = [], [], []
    for row in rows:
        started, cpu_started = time.perf_counter(), time.process_time()
        predicted.append(route(row.text))
        latencies.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    return predicted, latencies, cpu


def _result(
    engine: str,
    truth: list[str],
    predicted: list[str],
    latencies: list[float],
    *,
    train_seconds: float | None,
    note: str = "",
    cpu: list[float] | None = None,
) -> EngineResult:
    import numpy as np  # lazily, like ccp.ai.tuning: not at django.setup()
    from sklearn.metrics import accuracy_score, f1_score

    return EngineResult(
        engine=engine,
        rows=len(truth),
        skill_accuracy=round(float(accuracy_score(truth, predicted)), 4),
        skill_macro_f1=round(
            float(f1_score(truth, predicted, labels=sorted(set(truth)), average="macro", zero_division=0)), 4
        ),
        p50_ms=round(float(np.percentile(latencies, 50)), 4),
        p99_ms=round(float(np.percentile(latencies, 99)), 4),
        train_seconds=round(train_seconds, 3) if train_seconds is not None else None,
        note=note,
        p50_cpu_ms=round(float(np.percentile(cpu, 50)), 4) if cpu else None,
        p99_cpu_ms=round(float(np.percentile(cpu, 99)), 4) if cpu else None,
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
