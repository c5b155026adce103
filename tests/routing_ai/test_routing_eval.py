"""manage.py routing_eval on a small CSV the test writes."""

import csv
import json
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ccp.ai.evaluation import DEFAULT_MAPPING, load_mapping

from .fakes import INTENTS, ChatServer, synthetic_rows


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "queries.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerows(synthetic_rows(per_intent=50))
    mapping = tmp_path / "mapping.json"
    groups: dict[str, list[str]] = {}
    for intent, (skill, _phrasings) in INTENTS.items():
        groups.setdefault(skill, []).append(intent)
    mapping.write_text(json.dumps({"groups": groups}))
    return path, mapping


@pytest.fixture
def no_provider(settings, monkeypatch):
    for name in ("AI_PROVIDER_BASE_URL", "AI_PROVIDER_MODEL"):
        monkeypatch.delenv(name, raising=False)
        setattr(settings, name, "")


def run(*args):
    out = StringIO()
    call_command("routing_eval", *args, stdout=out)
    return out.getvalue()


def test_table_compares_the_engines(dataset, no_provider):
    path, mapping = dataset
    output = run("--dataset", str(path), "--mapping", str(mapping), "--validation-share", "0.2", "--seed", "7")
    assert "300 rows, 6 intents, 3 skill groups; train 240 / validation 60" in output
    rows = {line.split()[0]: line for line in output.splitlines() if line.split()[:1]}
    percent = r"\d{1,3}\.\d%"
    assert re.search(
        rf"^skills_baseline\s+60\s+{percent}\s+{percent}\s+-\s+-\s+\d+\.\d{{3}}\s+\d+\.\d{{3}}", rows["skills_baseline"]
    )
    assert re.search(
        rf"^tuned_model\s+60\s+{percent}\s+{percent}\s+{percent}\s+{percent}\s+\d+\.\d{{3}}\s+\d+\.\d{{3}}\s+\d+\.\d{{2}}",
        rows["tuned_model"],
    )
    assert "skipped: no provider" in rows["generative"]
    assert "skill-group accuracy >= 95%" in output and "p99 inference <= 10 ms" in output


def test_json_report_and_the_generative_engine_against_a_real_server(dataset, settings):
    path, mapping = dataset
    with ChatServer() as server:
        server.content = '{"agent_id": "agent_cards", "skill": null, "reason": "always cards"}'
        settings.AI_PROVIDER_BASE_URL = server.url
        settings.AI_PROVIDER_MODEL = "test-model"
        report = json.loads(run("--dataset", str(path), "--mapping", str(mapping), "--provider-limit", "12", "--json"))
    engines = {engine["engine"]: engine for engine in report["engines"]}
    assert set(engines) == {"skills_baseline", "tuned_model", "generative (test-model)"}
    assert engines["tuned_model"]["skill_accuracy"] > engines["generative (test-model)"]["skill_accuracy"]
    generative = engines["generative (test-model)"]
    assert generative["rows"] == 12 and len(server.requests) == 12
    assert generative["note"] == "0 fallbacks"
    assert report["rows_validation"] == 60 and report["seed"] == 7


def test_unknown_categories_are_named(dataset, tmp_path, no_provider):
    path, _mapping = dataset
    with pytest.raises(CommandError, match="4 categories are not in the mapping: card_lost, top_up_limit"):
        run("--dataset", str(path))  # the default BANKING77 mapping knows only two of them


def test_the_bundled_mapping_covers_banking77():
    mapping = load_mapping(path=DEFAULT_MAPPING)
    assert len(mapping) == 77
    assert 6 <= len(set(mapping.values())) <= 8
    assert mapping["card_arrival"] == "cards" and mapping["exchange_rate"] == "exchange_currency"


def write_csv(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerows(rows)
    return path


def test_train_on_one_file_and_report_on_the_other(dataset, tmp_path, no_provider):
    """The official protocol: nothing of --test is used to train, all of it is measured."""
    _path, mapping = dataset
    rows = synthetic_rows(per_intent=50)
    train = write_csv(tmp_path / "train.csv", rows[::2])
    test = write_csv(tmp_path / "test.csv", rows[1::2][:90])
    report = json.loads(run("--train", str(train), "--test", str(test), "--mapping", str(mapping), "--json"))
    assert report["rows_train"] == 150 and report["rows_validation"] == 90
    assert report["dataset"] == str(train) and report["test_dataset"] == str(test)
    assert report["validation_share"] == 0.0
    engines = {engine["engine"]: engine for engine in report["engines"]}
    assert engines["tuned_model"]["rows"] == 90 == engines["skills_baseline"]["rows"]
    assert engines["tuned_model"]["skill_accuracy"] >= 0.9 and engines["tuned_model"]["intent_accuracy"] >= 0.8
    table = run("--train", str(train), "--test", str(test), "--mapping", str(mapping))
    assert f"train {train} (150 rows), test {test} (90 rows): 6 intents, 3 skill groups" in table


def test_the_test_file_can_be_harder_than_the_training_file(dataset, tmp_path, no_provider):
    """A test file labelled against the texts (every row swapped to another skill) scores low: the
    report really is measured on --test, not on a split of --train."""
    _path, mapping = dataset
    rows = synthetic_rows(per_intent=40)
    intents = sorted({category for _text, category in rows})
    shifted = {intent: intents[(i + 3) % len(intents)] for i, intent in enumerate(intents)}
    train = write_csv(tmp_path / "train.csv", rows)
    test = write_csv(tmp_path / "test.csv", [(text, shifted[category]) for text, category in rows[:60]])
    report = json.loads(run("--train", str(train), "--test", str(test), "--mapping", str(mapping), "--json"))
    tuned = next(engine for engine in report["engines"] if engine["engine"] == "tuned_model")
    assert tuned["intent_accuracy"] <= 0.1


def test_train_and_test_need_each_other_and_exclude_dataset(dataset, tmp_path, no_provider):
    path, mapping = dataset
    for args in (("--train", str(path)), ("--test", str(path)), ("--dataset", str(path), "--train", str(path))):
        with pytest.raises(CommandError, match="Give either --dataset FILE, or --train FILE and --test FILE"):
            run(*args, "--mapping", str(mapping))
    with pytest.raises(CommandError, match="Give either"):
        run("--mapping", str(mapping))


def test_a_test_category_missing_from_training_is_named(dataset, tmp_path, no_provider):
    _path, mapping = dataset
    rows = synthetic_rows(per_intent=20)
    train = write_csv(tmp_path / "train.csv", [row for row in rows if row[1] != "card_lost"])
    test = write_csv(tmp_path / "test.csv", rows[:40] + [row for row in rows if row[1] == "card_lost"][:3])
    with pytest.raises(CommandError, match="1 test categories never occur in the training file: card_lost"):
        run("--train", str(train), "--test", str(test), "--mapping", str(mapping))
