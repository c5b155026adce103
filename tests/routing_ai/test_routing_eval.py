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
        rf"^skills_baseline\s+60\s+{percent}\s+{percent}\s+-\s+\d+\.\d{{3}}\s+\d+\.\d{{3}}", rows["skills_baseline"]
    )
    assert re.search(
        rf"^tuned_model\s+60\s+{percent}\s+{percent}\s+{percent}\s+\d+\.\d{{3}}\s+\d+\.\d{{3}}\s+\d+\.\d{{2}}",
        rows["tuned_model"],
    )
    assert "skipped: no provider" in rows["generative"]
    assert "skill-group accuracy >= 92%" in output and "p99 inference <= 10 ms" in output


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
