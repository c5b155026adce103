"""AI routing inside work_route (FIG 18): the A/B arm, the AI engine's offer, every fallback, capacity."""

import uuid

import pytest
from django.db import transaction

from ccp.ai.tuning import TuningExample
from routing import services
from routing.engines import CandidatePool
from routing.models import AgentWork, AiRoutingConfig, RouteDecision, TunedModel, WorkItem
from tests.routing.test_engine import agent, hold, item

from .fakes import ChatServer, closed_port_url, skill_of, synthetic_rows


def examples(per_intent=8):
    return [TuningExample(text=t, label=skill_of(i)) for t, i in synthetic_rows(per_intent=per_intent)]


@pytest.fixture
def model(tenant):
    result = services.tuned_model_train(tenant=tenant, examples=examples(), max_rounds=5)
    assert result.activated and result.record.status == TunedModel.Status.ACTIVE
    return result.record


@pytest.fixture
def team(tenant):
    """Cards is busier than Transfers, so the platform's most-available strategy picks Transfers."""
    cards = agent(tenant, "Cards", skills={"cards": 3})
    transfers = agent(tenant, "Transfers", skills={"transfers": 3})
    hold(tenant, cards, 1)
    return cards, transfers


def ai_on(tenant, **kwargs):
    return AiRoutingConfig.objects.create(tenant=tenant, enabled=True, share=kwargs.pop("share", 100), **kwargs)


def routed(tenant, text, ref=None):
    work_item = item(tenant, ref or str(uuid.uuid4()), attributes={"first_message": text, "contact_name": "Ann"})
    decision = RouteDecision.objects.filter(work_item=work_item).latest("created_at")
    work = AgentWork.objects.filter(work_item=work_item).first()
    return decision, work


def test_the_ai_arm_offers_to_the_agent_with_the_predicted_skill(tenant, team, model):
    cards, _ = team
    ai_on(tenant)
    decision, work = routed(tenant, "I lost my card yesterday")
    assert work.agent == cards and work.engine == "ai"
    assert decision.engine == "ai" and decision.arm == "ai" and decision.outcome == "offered"
    assert "tuned model" in decision.reason and "cards" in decision.reason
    assert decision.inputs["ai"]["skill"] == "cards"


def test_without_ai_routing_the_platform_decides_and_no_arm_is_recorded(tenant, team, model):
    _, transfers = team
    decision, work = routed(tenant, "I lost my card yesterday")
    assert work.agent == transfers and decision.engine == "platform" and decision.arm == ""


def test_no_active_model_falls_back_to_the_platform(tenant, team):
    _, transfers = team
    ai_on(tenant)
    decision, work = routed(tenant, "I lost my card")
    assert work.agent == transfers and work.engine == "platform"
    assert decision.engine == "platform" and decision.arm == "ai"
    assert "tuned_model:not_trained" in decision.reason and "generative:off" in decision.reason


def test_low_probability_falls_back_to_the_platform(tenant, team, model):
    _, transfers = team
    ai_on(tenant, min_probability=0.9)
    decision, work = routed(tenant, "hello")  # no word the model knows: it is unsure
    assert work.agent == transfers and decision.engine == "platform"
    assert "tuned_model:low_confidence" in decision.reason


def test_a_provider_that_is_down_falls_back(tenant, team, settings):
    _, transfers = team
    settings.AI_PROVIDER_BASE_URL = closed_port_url()
    settings.AI_PROVIDER_MODEL = "m"
    ai_on(tenant, use_provider=True)
    decision, work = routed(tenant, "I lost my card")
    assert work.agent == transfers and decision.engine == "platform"
    assert "generative:connection_error" in decision.reason


def test_a_slow_provider_times_out_and_the_tuned_model_decides(tenant, team, model, settings):
    cards, _ = team
    with ChatServer() as server:
        server.delay = 1.0
        settings.AI_PROVIDER_BASE_URL = server.url
        settings.AI_PROVIDER_MODEL = "m"
        settings.AI_PROVIDER_TIMEOUT = 0.2
        ai_on(tenant, use_provider=True)
        decision, work = routed(tenant, "my card was stolen")
    assert work.agent == cards and decision.engine == "ai"
    assert "generative:timeout" in decision.reason and "tuned model" in decision.reason


def test_a_hallucinated_agent_is_never_offered(tenant, team, settings):
    _, transfers = team
    with ChatServer() as server:
        server.content = '{"agent_id": "ghost-agent", "skill": null, "reason": "trust me"}'
        settings.AI_PROVIDER_BASE_URL = server.url
        settings.AI_PROVIDER_MODEL = "m"
        ai_on(tenant, use_provider=True)
        decision, work = routed(tenant, "I lost my card")
    assert work.agent == transfers and decision.engine == "platform"
    assert "generative:unknown_agent" in decision.reason


def test_the_generative_model_picks_a_real_candidate(tenant, team, settings):
    cards, _ = team
    with ChatServer() as server:
        server.content = f'{{"agent_id": "{cards.pk}", "skill": "cards", "reason": "lost card"}}'
        settings.AI_PROVIDER_BASE_URL = server.url
        settings.AI_PROVIDER_MODEL = "m"
        ai_on(tenant, use_provider=True)
        decision, work = routed(tenant, "I lost my card")
        prompt = server.requests[-1]["body"]["messages"][-1]["content"]
    assert work.agent == cards and decision.engine == "ai" and "generative model" in decision.reason
    assert "I lost my card" in prompt and str(cards.pk) in prompt


def test_a_skill_group_mapped_to_a_queue_routes_to_its_members(tenant, model):
    from routing.models import Queue

    lead = agent(tenant, "Lead")
    other = agent(tenant, "Other")
    hold(tenant, lead, 1)
    queue = Queue.objects.create(tenant=tenant, name="card-team")
    queue.members.add(lead)
    ai_on(tenant, skill_groups={"cards": {"queue": "card-team"}})
    decision, work = routed(tenant, "block my card please")
    assert work.agent == lead and decision.engine == "ai", decision.reason
    assert other != lead


def test_the_ab_split_is_deterministic_and_respects_the_share():
    ids = [uuid.UUID(int=i * 7919 + 1) for i in range(2000)]
    arms = [services.ab_arm(work_item_id=i, share=30) for i in ids]
    assert arms == [services.ab_arm(work_item_id=i, share=30) for i in ids]
    assert 0.26 < arms.count("ai") / len(ids) < 0.34
    assert {services.ab_arm(work_item_id=i, share=0) for i in ids} == {"platform"}
    assert {services.ab_arm(work_item_id=i, share=100) for i in ids} == {"ai"}


def test_the_platform_arm_is_routed_by_the_platform_and_logged(tenant, team, model):
    _, transfers = team
    ai_on(tenant, share=0)
    decision, work = routed(tenant, "I lost my card")
    assert work.agent == transfers and decision.engine == "platform" and decision.arm == "platform"
    assert "A/B: platform arm" in decision.reason


def test_capacity_is_never_exceeded_through_the_ai_arm(tenant, model):
    """The snapshot says Cards has room; by the time of the offer Cards is full: the next candidate gets it."""
    cards = agent(tenant, "Cards", capacity=2, skills={"cards": 3})
    transfers = agent(tenant, "Transfers", skills={"transfers": 3})
    ai_on(tenant)
    work_item = WorkItem.objects.create(tenant=tenant, reference="race", attributes={"first_message": "I lost my card"})
    pool = CandidatePool()
    assert {c.name for c in pool.candidates(work_item)} == {"Cards", "Transfers"}
    hold(tenant, cards, 2)  # another process filled Cards after the snapshot
    with transaction.atomic():
        work = services.work_route(work_item=work_item, pool=pool)
    assert work.agent == transfers and work.engine == "platform"
    assert AgentWork.objects.filter(agent=cards).used_capacity() == {cards.pk: {"messaging": 2}}
    decision = RouteDecision.objects.get(work_item=work_item)
    assert decision.engine == "platform" and "every AI candidate refused" in decision.reason


def test_when_nobody_has_room_the_work_waits_and_nothing_raises(tenant, model):
    ai_on(tenant)
    decision, work = routed(tenant, "I lost my card")
    assert work is None and decision.outcome == "no_agent"
    assert WorkItem.objects.get(pk=decision.work_item_id).status == "queued"


def test_dispatch_rounds_do_not_wait_for_the_generative_model(tenant, model, settings):
    """Waiting work is dispatched many items per transaction: the tuned model decides, the provider is not asked."""
    with ChatServer() as server:
        settings.AI_PROVIDER_BASE_URL = server.url
        settings.AI_PROVIDER_MODEL = "m"
        ai_on(tenant, use_provider=True)
        decision, work = routed(tenant, "I lost my card")
        assert work is None and decision.outcome == "no_agent"  # nobody online yet
        cards = agent(tenant, "Cards", skills={"cards": 3})
        agent(tenant, "Transfers", skills={"transfers": 3})
        assert services.routing_dispatch(tenant_id=tenant.pk) >= 1
        assert server.requests == []
    latest = RouteDecision.objects.filter(work_item_id=decision.work_item_id).latest("created_at")
    assert latest.engine == "ai" and latest.chosen_agent == cards
    assert "generative:skipped_in_dispatch" in latest.reason
