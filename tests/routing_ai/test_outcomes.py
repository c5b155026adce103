"""Outcome scores (ccp.ai.outcomes) and the ablation on a simulated history in routing_eval."""

import csv
import json
from io import StringIO

from django.core.management import call_command

from ccp.ai.evaluation import Row
from ccp.ai.outcomes import OutcomeSignals, group_priors, outcome_ablation, outcome_score, simulate_history

from .fakes import INTENTS, synthetic_rows


def test_the_outcome_score_rule():
    assert outcome_score(signals=OutcomeSignals(resolved=True)) == 1.0
    assert outcome_score(signals=OutcomeSignals()) == 0.6  # served, no feedback
    assert outcome_score(signals=OutcomeSignals(resolved=False)) == 0.0
    assert outcome_score(signals=OutcomeSignals(abandoned=True, resolved=True)) == 0.0
    assert outcome_score(signals=OutcomeSignals(resolved=True, transfers=1)) == 0.5
    assert outcome_score(signals=OutcomeSignals(resolved=True, transfers=2)) == 0.25
    assert outcome_score(signals=OutcomeSignals(resolved=True, rating=1)) == 0.7
    assert outcome_score(signals=OutcomeSignals(resolved=True, rating=5)) == 1.0  # capped
    assert outcome_score(signals=OutcomeSignals(resolved=True, handle_seconds=601)) == 0.8
    assert outcome_score(signals=OutcomeSignals(resolved=True, handle_seconds=600)) == 1.0
    assert outcome_score(signals=OutcomeSignals(resolved=True, repeat_contact=True)) == 0.7


def rows(per_intent=40, seed=3):
    return [Row(text=t, intent=i, skill=INTENTS[i][0]) for t, i in synthetic_rows(per_intent=per_intent, seed=seed)]


def test_the_simulated_history_misroutes_the_asked_share_and_scores_them_low():
    train = rows(per_intent=100)
    history = simulate_history(rows=train, seed=1, misroute=0.3)
    wrong = [h for h, r in zip(history, train, strict=True) if h["label"] != r.skill]
    assert 0.1 < len(wrong) / len(train) < 0.2  # half of the misrouted were transferred back: right label
    right = [h for h, r in zip(history, train, strict=True) if h["label"] == r.skill]
    mean = lambda entries: sum(outcome_score(signals=e["signals"]) for e in entries) / len(entries)  # noqa: E731
    assert mean(wrong) < 0.4 < 0.6 < mean(right)


def test_outcome_weights_beat_uniform_weights_on_a_noisy_history():
    results = {
        r.variant: r
        for r in outcome_ablation(train=rows(seed=3), test=rows(per_intent=20, seed=9), seed=2, misroute=0.6)
    }
    assert set(results) == {"uniform", "feedback only", "outcome score", "outcome score + group priors"}
    assert results["outcome score"].skill_accuracy > results["uniform"].skill_accuracy


def test_routing_eval_prints_the_ablation_table(tmp_path, settings):
    settings.AI_PROVIDER_BASE_URL = ""
    path = tmp_path / "q.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerows(synthetic_rows(per_intent=40))
    groups: dict[str, list[str]] = {}
    for intent, (skill, _p) in INTENTS.items():
        groups.setdefault(skill, []).append(intent)
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"groups": groups}))
    out = StringIO()
    call_command("routing_eval", "--dataset", str(path), "--mapping", str(mapping), "--ablation", stdout=out)
    text = out.getvalue()
    assert "outcome ablation: simulated history, 30% of routes first sent to a wrong skill group" in text
    for variant in ("uniform", "feedback only", "outcome score", "outcome score + group priors"):
        assert any(line.startswith(variant) for line in text.splitlines())
    out = StringIO()
    call_command("routing_eval", "--dataset", str(path), "--mapping", str(mapping), "--ablation", "--json", stdout=out)
    assert [r["variant"] for r in json.loads(out.getvalue())["ablation"]] == [
        "uniform",
        "feedback only",
        "outcome score",
        "outcome score + group priors",
    ]


def test_group_priors_lower_a_group_whose_conversations_get_transferred_away():
    routes = [("cards", False)] * 80 + [("cards", True)] * 20 + [("top_up", False)] * 40 + [("top_up", True)] * 60
    routes += [("rare", True)] * 2
    priors = group_priors(first_routes=routes)
    assert priors["top_up"] < 1 < priors["cards"]
    assert 0.8 < priors["rare"] < 1  # two transfers: smoothed towards the overall share
    assert group_priors(first_routes=[]) == {}


def test_priors_shift_the_skill_choice_and_survive_storage():
    from ccp.ai.tuning import TuningExample, TuningLayer, tune

    model = tune(examples=[TuningExample(text=r.text, label=r.skill) for r in rows()], seed=1)
    text = "my card top up transfer"  # ambiguous: the priors decide the close call
    plain = {p.label: p.probability for p in model.predict(text=text, k=3)}
    leader = max(plain, key=plain.get)
    model.priors = {leader: 1e-6}
    shifted = model.predict(text=text, k=3)
    assert shifted[0].label != leader and abs(sum(p.probability for p in shifted) - 1) < 0.01
    restored = TuningLayer.from_bytes(data=model.to_bytes())
    assert restored.priors == {leader: 1e-6} and restored.predict(text=text, k=3) == shifted
