"""Training from the routing history (FIG 17, 0173-0176, 0181): label rule, feedback weights, activation."""

import io
import uuid

import pytest
from django.core.management import call_command
from django.db import transaction

from ccp.ai.tuning import default_head
from routing import services
from routing.models import AgentWork, AiRoutingConfig, RouteFeedback, TunedModel
from routing.tasks import tuned_model_train_task
from tests.routing.test_engine import agent, item

from .fakes import INTENTS, synthetic_rows


@pytest.fixture
def team(tenant):
    return {skill: agent(tenant, skill.title(), skills={skill: 3}) for skill in ("cards", "transfers", "top_up")}


def conversation(tenant, text, *, skill=None, resolved=None, transfer_to=None):
    """A routed conversation: offered, accepted and closed; optionally transferred; with feedback."""
    reference = str(uuid.uuid4())
    required = [{"skill": skill, "level": 1}] if skill else []
    work_item = item(tenant, reference, required_skills=required, attributes={"first_message": text})
    work = AgentWork.objects.get(work_item=work_item)
    with transaction.atomic():
        services.work_accept(work=work)
    if transfer_to:
        second_item = item(
            tenant, reference, is_transfer=True, required_skills=[{"skill": transfer_to, "level": 1}], attributes={}
        )
        second = AgentWork.objects.get(work_item=second_item)
        with transaction.atomic():
            services.work_accept(work=second)
            services.work_release_for_transfer(work=work)
            services.work_close(work=second)
    else:
        with transaction.atomic():
            services.work_close(work=work)
    if resolved is not None:
        services.route_feedback_record(tenant=tenant, work_item=work_item, source="agent", resolved=resolved)
    return work_item


def history(tenant, per_intent=3):
    for text, intent in synthetic_rows(per_intent=per_intent, seed=11):
        conversation(tenant, text, skill=INTENTS[intent][0], resolved=True)


def test_the_label_is_the_group_that_finally_served_the_conversation(tenant, team):
    conversation(tenant, "my card was stolen", skill="cards", resolved=True)
    conversation(tenant, "my transfer failed", skill="transfers")  # no feedback: the unknown base 0.6
    conversation(tenant, "lost my card", skill="transfers", resolved=True, transfer_to="cards")
    conversation(tenant, "top up declined", skill="top_up", resolved=False)
    rows = {e.text: (e.label, e.weight) for e in services.training_examples(tenant=tenant)}
    assert rows == {
        "my card was stolen": ("cards", 1.0),
        "my transfer failed": ("transfers", 0.6),
        "lost my card": ("cards", 0.5),  # transferred to cards, who resolved it: halved by the transfer
        "top up declined": ("top_up", 0.0),  # unresolved: teaches nothing
    }


def test_without_a_required_skill_the_agents_highest_group_skill_is_the_label(tenant):
    agent(tenant, "Both", skills={"cards": 2, "transfers": 4})
    conversation(tenant, "payment to my friend was rejected", resolved=True)
    assert [(e.label, e.weight) for e in services.training_examples(tenant=tenant)] == [("transfers", 1.0)]


def test_unresolved_routes_are_ignored_so_the_model_learns_what_resolved(tenant, team):
    history(tenant)
    lost = ["I lost my card", "my card was stolen", "block my card please", "someone took my card"]
    for text in lost[:3]:  # went to transfers and stayed unresolved
        conversation(tenant, text, skill="transfers", resolved=False)
    result = services.tuned_model_train(tenant=tenant, max_rounds=5)
    assert result.record.metrics["rows_ignored"] == 3
    model = services.active_tuned_model(tenant_id=tenant.pk)
    assert model.predict(text="I lost my card")[0].label == "cards"


def test_training_activates_only_a_better_model(tenant, team):
    history(tenant)
    first = services.tuned_model_train(tenant=tenant, max_rounds=5)
    assert first.activated and first.record.status == "active" and first.active_metrics is None
    assert first.record.rows > 0 and first.record.metrics["accuracy"] > 0.5 and bytes(first.record.data)

    again = services.tuned_model_train(tenant=tenant, max_rounds=5)  # same data: not better
    assert not again.activated and again.record.status == "candidate"
    assert again.active_metrics is not None
    assert TunedModel.objects.get(pk=first.record.pk).status == "active"

    # a model trained on one round of noisy labels is worse; a clearly better one replaces it
    TunedModel.objects.filter(pk=first.record.pk).update(status="retired")
    from ccp.ai.tuning import TuningExample

    noisy = [TuningExample(text=t, label=["cards", "transfers"][n % 2]) for n, (t, _i) in enumerate(synthetic_rows())]
    worse = services.tuned_model_train(tenant=tenant, examples=noisy, max_rounds=1)
    assert worse.activated  # no active model: any measured candidate wins
    better = services.tuned_model_train(tenant=tenant, max_rounds=5)
    assert better.activated
    assert TunedModel.objects.get(pk=worse.record.pk).status == "retired"
    assert TunedModel.objects.filter(tenant=tenant, status="active").count() == 1


def test_too_little_history_is_a_clear_error(tenant, team):
    from ccp.core.errors import Invalid

    conversation(tenant, "my card was stolen", skill="cards", resolved=True)
    with pytest.raises(Invalid) as error:
        services.tuned_model_train(tenant=tenant)
    assert error.value.code == "invalid_tuning_data"


def test_the_daily_task_trains_only_with_enough_new_feedback(tenant, team, settings):
    settings.AI_TRAINING_MIN_NEW_FEEDBACK = 10
    AiRoutingConfig.objects.create(tenant=tenant, enabled=True)
    conversation(tenant, "my card was stolen", skill="cards", resolved=True)
    assert tuned_model_train_task(tenant.pk).startswith("skipped")
    history(tenant)
    assert "now active" in tuned_model_train_task(tenant.pk)
    assert tuned_model_train_task(tenant.pk).startswith("skipped")  # nothing new since that model
    assert RouteFeedback.objects.filter(tenant=tenant).count() >= 10


def test_routing_train_bootstraps_from_a_csv(tenant, tmp_path):
    dataset = tmp_path / "rows.csv"
    lines = ["text,category"] + [f'"{text}",{intent}' for text, intent in synthetic_rows(per_intent=8)]
    dataset.write_text("\n".join(lines) + "\n")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(
        '{"groups": {"cards": ["card_lost", "card_arrival"], "transfers": ["transfer_failed", '
        '"transfer_pending"], "top_up": ["top_up_failed", "top_up_limit"]}}'
    )
    out = io.StringIO()
    call_command(
        "routing_train",
        "--tenant",
        tenant.slug,
        "--dataset",
        str(dataset),
        "--mapping",
        str(mapping),
        "--max-rounds",
        "5",
        stdout=out,
    )
    assert "now active" in out.getvalue()
    record = TunedModel.objects.get(tenant=tenant)
    assert record.source == "dataset" and record.status == "active" and record.metrics["intent_accuracy"] > 0.5
    # the default head: the ensemble when the sentence encoder is installed (make install), else the SVM
    assert record.metrics["head"] == default_head()[0] and record.metrics["groups_from_intents"] is True
    call_command(
        "routing_train",
        "--tenant",
        tenant.slug,
        "--dataset",
        str(dataset),
        "--mapping",
        str(mapping),
        "--head",
        "sgd",
        stdout=io.StringIO(),
    )
    assert TunedModel.objects.filter(tenant=tenant).latest("created_at").metrics["head"] == "sgd"


def test_a_tenant_admin_trains_now_from_the_admin(client, tenant, team):
    from tests.factories import MembershipFactory

    config = AiRoutingConfig.objects.create(tenant=tenant, enabled=True)
    admin = MembershipFactory(tenant=tenant, role="admin")
    client.force_login(admin.user)
    url = "/admin/routing/airoutingconfig/"
    response = client.post(url, {"action": "train_now", "_selected_action": [config.pk]}, follow=True)
    assert "not trained" in response.content.decode() and not TunedModel.objects.exists()
    history(tenant)
    response = client.post(url, {"action": "train_now", "_selected_action": [config.pk]}, follow=True)
    assert "now active" in response.content.decode()
    assert TunedModel.objects.get(tenant=tenant).status == "active"
