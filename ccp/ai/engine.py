"""The AI engine's decision for one conversation: generative model, then tuned model, then the platform.

The chain is what makes AI routing safe to switch on. The generative provider (FIG 18) is asked
first when one is configured; if it falls back for any reason, the tuning layer's skill prediction
is used when it is confident enough; if that is missing or unsure too, the decision is "platform"
and the routing engine's rules route as if AI were off. Every step that was skipped is recorded in
`fallbacks`, so the RouteDecision log shows why a conversation was routed the way it was.

This is a proposal, not an offer: capacity across all engines and channels (0193) is enforced by the
routing engine in the database when it offers the work, so an agent chosen here may still be skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .prompts import DEFAULT_ROUTING_TEMPLATE, FIRST_MESSAGES, customer_texts
from .provider import ProviderClient
from .tuning import Prediction, TuningLayer

#: Below this probability the tuned model's skill is not trusted and the platform engine decides.
DEFAULT_MIN_PROBABILITY = 0.5


@dataclass(frozen=True)
class AiDecision:
    """Who decided (`engine`), the agent and/or skill proposed, and the fallbacks on the way."""

    engine: Literal["generative", "tuned_model", "platform"]
    agent_id: str | None = None
    skill: str | None = None
    reason: str = ""
    fallbacks: tuple[str, ...] = ()
    predictions: tuple[Prediction, ...] = field(default=(), repr=False)


def ai_route_decide(
    *,
    conversation: Mapping[str, Any],
    agents: Sequence[Mapping[str, Any]],
    model: TuningLayer | None,
    provider: ProviderClient | None,
    template: str = DEFAULT_ROUTING_TEMPLATE,
    min_probability: float = DEFAULT_MIN_PROBABILITY,
) -> AiDecision:
    """Decide a route for one conversation without ever raising on a model's failure."""
    fallbacks: list[str] = []
    if provider is None:
        fallbacks.append("generative:not_configured")
    else:
        choice = provider.route(conversation=conversation, agents=agents, template=template)
        if not choice.fallback:
            agent_id = choice.agent_id or best_agent_for(agents=agents, skill=choice.skill or "")
            return AiDecision(engine="generative", agent_id=agent_id, skill=choice.skill, reason=choice.reason)
        fallbacks.append(f"generative:{choice.fallback_reason}")

    text = " ".join(customer_texts(messages=list(conversation.get("messages") or []))[:FIRST_MESSAGES])
    if model is None:
        fallbacks.append("tuned_model:not_trained")
    elif not text.strip():
        fallbacks.append("tuned_model:no_customer_text")
    else:
        predictions = tuple(model.predict(text=text, k=3))
        top = predictions[0]
        if top.probability >= min_probability:
            return AiDecision(
                engine="tuned_model",
                agent_id=best_agent_for(agents=agents, skill=top.label),
                skill=top.label,
                reason=f"tuned model {model.version}: {top.label} (p={top.probability:.2f})",
                fallbacks=tuple(fallbacks),
                predictions=predictions,
            )
        fallbacks.append("tuned_model:low_confidence")
        return AiDecision(engine="platform", fallbacks=tuple(fallbacks), predictions=predictions)
    return AiDecision(engine="platform", fallbacks=tuple(fallbacks))


def best_agent_for(*, agents: Sequence[Mapping[str, Any]], skill: str) -> str | None:
    """The agent with room who has `skill` at the highest level, the least loaded first on a tie.

    None when nobody with room has the skill: the routing engine then queues the work for the skill.
    """
    ranked = []
    for agent in agents:
        capacity, load = agent.get("capacity"), agent.get("load") or 0
        if capacity is not None and load >= capacity:
            continue
        skills = agent.get("skills") or {}
        # a plain list of skill names means every skill at level 1
        level = skills.get(skill) if isinstance(skills, Mapping) else (1 if skill in skills else None)
        if level is None:
            continue
        utilisation = load / capacity if capacity else 0.0
        ranked.append((-float(level), utilisation, str(agent.get("id"))))
    return min(ranked)[2] if ranked else None
