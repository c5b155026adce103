"""The AI engine's fallback chain: generative model → tuned model → platform engine."""

import pytest

from ccp.ai.engine import ai_route_decide, best_agent_for
from ccp.ai.provider import ProviderClient
from ccp.ai.tuning import TuningExample, tune

from .fakes import ChatServer, closed_port_url, skill_of, synthetic_rows

AGENTS = [
    {"id": "a1", "skills": {"cards": 3}, "load": 0, "capacity": 2},
    {"id": "a2", "skills": {"cards": 5, "transfers": 2}, "load": 1, "capacity": 2},
    {"id": "a3", "skills": {"cards": 5}, "load": 2, "capacity": 2},  # best at cards, but full
    {"id": "a4", "skills": ["top_up"], "load": 0, "capacity": 1},
]
LOST_CARD = {"tenant": "Acme", "messages": [{"sender": "customer", "text": "Hi, someone stole my card yesterday"}]}


@pytest.fixture(scope="module")
def model():
    rows = synthetic_rows()
    return tune(examples=[TuningExample(text=t, label=skill_of(i), intent=i) for t, i in rows], version="m1")


def provider(url):
    return ProviderClient(base_url=url, model="test-model", timeout=0.3)


def test_the_generative_choice_wins_when_it_is_valid(model):
    with ChatServer() as server:
        server.content = '{"agent_id": "a1", "skill": "cards", "reason": "free cards agent"}'
        decision = ai_route_decide(conversation=LOST_CARD, agents=AGENTS, model=model, provider=provider(server.url))
    assert (decision.engine, decision.agent_id, decision.skill, decision.fallbacks) == ("generative", "a1", "cards", ())


def test_a_generative_skill_is_turned_into_the_best_agent_for_it(model):
    with ChatServer() as server:
        server.content = '{"agent_id": null, "skill": "cards", "reason": "card issue"}'
        decision = ai_route_decide(conversation=LOST_CARD, agents=AGENTS, model=model, provider=provider(server.url))
    assert (decision.engine, decision.agent_id) == ("generative", "a2")


def test_a_failing_provider_falls_back_to_the_tuned_model(model):
    with ChatServer() as server:
        server.delay = 1.0
        decision = ai_route_decide(conversation=LOST_CARD, agents=AGENTS, model=model, provider=provider(server.url))
    assert decision.engine == "tuned_model"
    assert (decision.skill, decision.agent_id) == ("cards", "a2")
    assert decision.fallbacks == ("generative:timeout",)
    assert "m1" in decision.reason


def test_without_provider_or_model_the_platform_decides():
    decision = ai_route_decide(conversation=LOST_CARD, agents=AGENTS, model=None, provider=None)
    assert (decision.engine, decision.agent_id, decision.skill) == ("platform", None, None)
    assert decision.fallbacks == ("generative:not_configured", "tuned_model:not_trained")


def test_an_unsure_model_leaves_the_decision_to_the_platform(model):
    decision = ai_route_decide(
        conversation=LOST_CARD, agents=AGENTS, model=model, provider=provider(closed_port_url()), min_probability=1.01
    )
    assert decision.engine == "platform"
    assert decision.fallbacks == ("generative:connection_error", "tuned_model:low_confidence")
    assert decision.predictions[0].label == "cards"


def test_best_agent_for_a_skill():
    assert best_agent_for(agents=AGENTS, skill="cards") == "a2"  # level 5 with room beats level 3
    assert best_agent_for(agents=AGENTS, skill="top_up") == "a4"
    assert best_agent_for(agents=AGENTS, skill="mortgages") is None
    tie = [
        {"id": "x", "skills": {"cards": 2}, "load": 1, "capacity": 2},
        {"id": "y", "skills": {"cards": 2}, "load": 0, "capacity": 2},
    ]
    assert best_agent_for(agents=tie, skill="cards") == "y"  # the less loaded
