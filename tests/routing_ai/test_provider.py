"""The generative provider: completion parsing, and every failure falling back against a real HTTP server."""

import pytest

from ccp.ai.provider import (
    ProviderClient,
    ProviderNotConfigured,
    ProviderUnavailable,
    choose_route,
    parse_route_completion,
    provider_from_settings,
    summarize,
)

from .fakes import ChatServer, closed_port_url

AGENTS = [
    {"id": "a1", "name": "Ann", "skills": {"cards": 5}, "load": 0, "capacity": 2},
    {"id": "a2", "name": "Bo", "skills": {"transfers": 4}, "load": 1, "capacity": 2},
    {"id": "a3", "name": "Cy", "skills": {"cards": 3}, "load": 2, "capacity": 2},  # full: not a candidate
]
CONVERSATION = {"tenant": "Acme", "channel": "sms", "messages": [{"sender": "customer", "text": "My card is lost."}]}


@pytest.fixture
def server():
    with ChatServer() as chat:
        yield chat


@pytest.fixture
def no_provider_settings(settings, monkeypatch):
    for name in ("AI_PROVIDER_BASE_URL", "AI_PROVIDER_MODEL", "AI_PROVIDER_API_KEY", "AI_PROVIDER_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
        setattr(settings, name, "")


def client(url, **kwargs):
    return ProviderClient(base_url=url, model="test-model", api_key="sk-test", **kwargs)


# --- parsing -------------------------------------------------------------------------------------


def test_parse_plain_json_choosing_an_agent():
    choice = parse_route_completion(
        text='{"agent_id": "a2", "skill": "transfers", "reason": "transfer expert"}',
        agent_ids=["a1", "a2"],
        skills=["cards", "transfers"],
    )
    assert (choice.outcome, choice.agent_id, choice.skill, choice.reason) == (
        "agent",
        "a2",
        "transfers",
        "transfer expert",
    )
    assert not choice.fallback


def test_parse_fenced_json_with_prose_around_it():
    text = 'Sure! Here is my answer:\n```json\n{"agent_id": null, "skill": "Cards", "reason": "lost card"}\n```\nBye.'
    choice = parse_route_completion(text=text, agent_ids=["a1"], skills=["cards", "transfers"])
    assert (choice.outcome, choice.agent_id, choice.skill) == ("skill", None, "cards")


def test_parse_json_inside_prose_without_fences_and_numeric_ids():
    choice = parse_route_completion(text='I pick {"agent_id": 42, "reason": "best"} as asked.', agent_ids=["42"])
    assert (choice.outcome, choice.agent_id) == ("agent", "42")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I think Ann should take it.", "unparseable"),
        ('{"agent_id": "a1", "skill": ', "unparseable"),
        ('{"foo": "bar"}', "unparseable"),
        ('{"agent_id": ["a1"], "skill": null}', "unparseable"),
        ('{"agent_id": "a1", "skill": null, "reason": 7}', "unparseable"),
        ('{"agent_id": true}', "unparseable"),
        ('{"agent_id": "a9", "skill": null, "reason": "made up"}', "unknown_agent"),
        ('{"agent_id": null, "skill": "mortgages"}', "unknown_skill"),
        ('{"agent_id": null, "skill": null, "reason": "no idea"}', "empty_choice"),
        ('{"agent_id": "  ", "skill": ""}', "empty_choice"),
    ],
)
def test_parse_failures_are_fallbacks_with_a_reason(text, reason):
    choice = parse_route_completion(text=text, agent_ids=["a1", "a2"], skills=["cards"])
    assert choice.fallback
    assert choice.fallback_reason == reason
    assert choice.agent_id is None


# --- the client against a real server -----------------------------------------------------------


def test_route_asks_the_server_and_returns_a_validated_agent(server):
    server.content = '```json\n{"agent_id": "a2", "skill": null, "reason": "free agent"}\n```'
    choice = client(server.url).route(conversation=CONVERSATION, agents=AGENTS)
    assert (choice.outcome, choice.agent_id, choice.reason) == ("agent", "a2", "free agent")
    assert choice.latency_ms is not None

    [request] = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    body = request["body"]
    assert body["model"] == "test-model" and body["temperature"] == 0.0
    assert [message["role"] for message in body["messages"]] == ["system", "user"]
    prompt = body["messages"][1]["content"]
    assert "id=a1" in prompt and "id=a2" in prompt
    assert "id=a3" not in prompt  # at capacity: not offered to the model


def test_an_agent_at_capacity_is_treated_as_hallucinated(server):
    server.content = '{"agent_id": "a3", "skill": null, "reason": "Cy knows cards"}'
    choice = client(server.url).route(conversation=CONVERSATION, agents=AGENTS)
    assert (choice.outcome, choice.fallback_reason) == ("fallback", "unknown_agent")


def test_too_few_candidates_falls_back_without_calling_the_model(server):
    choice = client(server.url).route(conversation=CONVERSATION, agents=[AGENTS[2]])
    assert choice.fallback_reason == "too_few_candidates"
    assert server.requests == []


def test_server_error_falls_back(server):
    server.status = 500
    choice = client(server.url).route(conversation=CONVERSATION, agents=AGENTS)
    assert (choice.outcome, choice.fallback_reason) == ("fallback", "http_error")
    assert "500" in choice.detail


def test_slow_server_times_out_and_falls_back(server):
    server.delay = 1.0
    choice = client(server.url, timeout=0.2).route(conversation=CONVERSATION, agents=AGENTS)
    assert (choice.outcome, choice.fallback_reason) == ("fallback", "timeout")


def test_a_body_that_is_not_a_chat_completion_falls_back(server):
    server.raw_body = "<html>gateway</html>"
    choice = client(server.url).route(conversation=CONVERSATION, agents=AGENTS)
    assert choice.fallback_reason == "bad_response"


def test_connection_refused_falls_back():
    choice = client(closed_port_url()).route(conversation=CONVERSATION, agents=AGENTS)
    assert (choice.outcome, choice.fallback_reason) == ("fallback", "connection_error")


def test_a_broken_template_falls_back_instead_of_raising(server):
    choice = client(server.url).route(conversation=CONVERSATION, agents=AGENTS, template="{nope}")
    assert choice.fallback_reason == "invalid_prompt_template"
    assert server.requests == []


# --- configuration and summaries ------------------------------------------------------------------


def test_unconfigured_provider_is_none_and_routing_falls_back(no_provider_settings):
    assert provider_from_settings() is None
    choice = choose_route(conversation=CONVERSATION, agents=AGENTS, provider=provider_from_settings())
    assert (choice.outcome, choice.fallback_reason) == ("fallback", "not_configured")


def test_unconfigured_summary_raises_instead_of_inventing_text(no_provider_settings):
    with pytest.raises(ProviderNotConfigured) as error:
        summarize(messages=CONVERSATION["messages"])
    assert error.value.code == "ai_provider_not_configured"


def test_provider_from_settings(settings, no_provider_settings, server):
    settings.AI_PROVIDER_BASE_URL = server.url
    settings.AI_PROVIDER_MODEL = "llama-3.1-8b"
    settings.AI_PROVIDER_API_KEY = "sk-set"
    provider = provider_from_settings()
    assert provider is not None
    assert (provider.model, provider.timeout, provider.api_key) == ("llama-3.1-8b", 5.0, "sk-set")
    assert "sk-set" not in repr(provider)
    settings.AI_PROVIDER_TIMEOUT = 0.5
    assert provider_from_settings().timeout == 0.5

    server.content = "The customer lost their card and wants it blocked."
    assert summarize(messages=CONVERSATION["messages"]) == "The customer lost their card and wants it blocked."
    prompt = server.requests[-1]["body"]["messages"][1]["content"]
    assert "customer: My card is lost." in prompt


def test_summary_from_a_failing_server_raises_unavailable(server):
    server.status = 503
    with pytest.raises(ProviderUnavailable) as error:
        summarize(messages=CONVERSATION["messages"], provider=client(server.url))
    assert error.value.details == {"reason": "http_error"}
