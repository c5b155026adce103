"""Prompt templates (FIG 17, 0171-0172) filled from conversation characteristics and agents (FIG 18)."""

import pytest

from ccp.ai.prompts import (
    DEFAULT_ROUTING_TEMPLATE,
    DEFAULT_SUMMARY_TEMPLATE,
    prompt_fill,
    template_placeholders,
    template_validate,
)
from ccp.ai.summary import extractive_summary
from ccp.core.errors import Invalid

CONVERSATION = {
    "tenant": "Acme Bank",
    "channel": "whatsapp",
    "contact": {"account": "A-17", "language": "en"},
    "history": ["Card replaced in May", "Asked about fees in June"],
    "messages": [
        {"sender": "customer", "text": "Hello. My card was stolen in Paris yesterday! Please block it."},
        {"sender": "agent", "text": "I am sorry to hear that."},
        {"sender": "customer", "text": "There is also a payment from a shop in Lyon that I do not recognise."},
    ],
}
AGENTS = [
    {"id": "a1", "name": "Ann", "skills": {"cards": 5, "transfers": 2}, "load": 1, "capacity": 3},
    {"id": "a2", "name": "Bo", "skills": ["fraud"], "load": 0, "capacity": 2},
]


def test_placeholders_are_listed_in_order_once_and_escaped_braces_are_not_placeholders():
    template = 'Hi {tenant}, {channel} and {tenant} again. Answer {{"agent_id": "..."}}'
    assert template_placeholders(template=template) == ["tenant", "channel"]


def test_default_templates_use_only_known_placeholders():
    assert "customer_interaction_summary" in template_validate(template=DEFAULT_ROUTING_TEMPLATE)
    assert "available_agents" in template_validate(template=DEFAULT_ROUTING_TEMPLATE)
    assert template_validate(template=DEFAULT_SUMMARY_TEMPLATE) == ["transcript"]


def test_unknown_placeholders_are_an_error_naming_them():
    with pytest.raises(Invalid) as error:
        prompt_fill(template="Route {customer_mood} for {tenant} via {agnets}", conversation=CONVERSATION)
    assert error.value.code == "invalid_prompt_template"
    assert error.value.details == {"unknown": ["customer_mood", "agnets"]}
    assert "{customer_mood}" in error.value.message and "{agnets}" in error.value.message


@pytest.mark.parametrize("template", ["Unclosed {tenant", "Stray } brace", "{tenant!r}", "{tenant:>10}", "{0}"])
def test_malformed_templates_are_refused(template):
    with pytest.raises(Invalid) as error:
        template_validate(template=template)
    assert error.value.code == "invalid_prompt_template"


def test_filling_renders_characteristics_and_agents():
    prompt = prompt_fill(template=DEFAULT_ROUTING_TEMPLATE, conversation=CONVERSATION, agents=AGENTS)
    assert "contact center of Acme Bank" in prompt
    assert "Channel: whatsapp" in prompt
    assert "Customer: account: A-17; language: en" in prompt
    assert "- id=a1 | Ann | skills: cards (5), transfers (2) | load 1/3" in prompt
    assert "- id=a2 | Bo | skills: fraud | load 0/2" in prompt
    assert "cards, fraud, transfers" in prompt  # the skills offered, derived from the agents
    assert "- Card replaced in May" in prompt
    assert "- Hello. My card was stolen in Paris yesterday! Please block it." in prompt
    assert (
        "I am sorry" not in prompt.split("First messages")[1].split("Earlier")[0]
    )  # agents' lines are not "first messages"
    assert '{"agent_id": "<id of one listed agent, or null>"' in prompt  # escaped braces come out single


def test_filling_is_deterministic_whatever_the_dict_order():
    shuffled = dict(reversed(list(CONVERSATION.items())))
    shuffled["contact"] = {"language": "en", "account": "A-17"}
    assert prompt_fill(template=DEFAULT_ROUTING_TEMPLATE, conversation=shuffled, agents=AGENTS) == prompt_fill(
        template=DEFAULT_ROUTING_TEMPLATE, conversation=CONVERSATION, agents=AGENTS
    )


def test_missing_characteristics_render_as_none_and_a_given_summary_is_used():
    prompt = prompt_fill(
        template="{tenant}|{contact}|{history}|{customer_interaction_summary}",
        conversation={"summary": "Wants a refund."},
    )
    assert prompt == "(none)|(none)|(none)|Wants a refund."


def test_long_values_are_truncated_to_the_limit():
    conversation = {"tenant": "Acme", "messages": [{"sender": "customer", "text": "word " * 500}]}
    prompt = prompt_fill(template="[{transcript}]", conversation=conversation, max_value_chars=50)
    assert len(prompt) == 52
    assert prompt.endswith("…]")
    short = prompt_fill(template="[{tenant}]", conversation=conversation, max_value_chars=50)
    assert short == "[Acme]"


def test_extractive_summary_quotes_the_customer_first_sentence_then_new_information():
    summary = extractive_summary(messages=CONVERSATION["messages"], max_sentences=2)
    assert summary.startswith("Hello.") is False  # a greeting carries no content
    assert summary == (
        "My card was stolen in Paris yesterday! There is also a payment from a shop in Lyon that I do not recognise."
    )
    assert extractive_summary(messages=[{"sender": "agent", "text": "Hi there"}]) == ""
    assert extractive_summary(messages=CONVERSATION["messages"]) == extractive_summary(
        messages=CONVERSATION["messages"]
    )


def test_extractive_summary_respects_the_size_limit():
    summary = extractive_summary(messages=[{"text": "Refund " + "please " * 200 + "now."}], max_chars=40)
    assert len(summary) == 40 and summary.endswith("…")
