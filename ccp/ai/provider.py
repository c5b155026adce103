"""A client for generative models behind the OpenAI-compatible chat-completions API (FIG 18, 1810-1812).

vLLM, the llama.cpp server, Ollama and hosted models all speak `POST {base_url}/chat/completions`,
so one small client covers self-hosted and hosted models alike. Routing must never stall or break
because a model is slow, down or inventive: `ProviderClient.route` and `choose_route` never raise —
every failure comes back as a `RouteChoice` whose `outcome` is "fallback" with a stable reason code,
and the caller hands the work to the platform engine. A summary, on the other hand, is text a human
will read: when no provider is configured `summarize` raises instead of inventing one, and the
caller may show `extractive_summary` (quoted customer sentences) in its place.

Settings (declared in ccp/settings.py, set from the environment at start-up): AI_PROVIDER_BASE_URL, AI_PROVIDER_MODEL,
AI_PROVIDER_API_KEY, AI_PROVIDER_TIMEOUT (seconds, default 5).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import requests
from django.conf import settings

from ccp.core.errors import DomainError, ServiceUnavailable

from .prompts import DEFAULT_ROUTING_TEMPLATE, DEFAULT_SUMMARY_TEMPLATE, prompt_fill

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
SYSTEM_MESSAGE = (
    "You route customer conversations in a contact center. Follow the instructions exactly and answer "
    "with JSON only when asked for JSON."
)

#: The reasons a route falls back, as stable codes for the RouteDecision log and dashboards.
FALLBACK_REASONS = (
    "not_configured",  # no provider settings
    "too_few_candidates",  # nothing for a model to choose between
    "invalid_prompt_template",  # the template cannot be filled
    "timeout",  # no answer within AI_PROVIDER_TIMEOUT
    "connection_error",  # refused, DNS, TLS…
    "http_error",  # the server answered 4xx/5xx
    "bad_response",  # the body is not a chat completion
    "unparseable",  # the completion holds no JSON object with the expected fields and types
    "unknown_agent",  # the model named an agent that is not a candidate (hallucinated or stale)
    "unknown_skill",  # the model named a skill that is not offered
    "empty_choice",  # neither an agent nor a skill
)


class ProviderNotConfigured(ServiceUnavailable):
    """No generative model is configured, so there is nothing to generate text with."""

    code = "ai_provider_not_configured"
    default_message = (
        "No generative model is configured: set AI_PROVIDER_BASE_URL and AI_PROVIDER_MODEL to use AI summaries."
    )


class ProviderUnavailable(ServiceUnavailable):
    """The configured model did not produce a usable answer (timeout, HTTP error, empty completion)."""

    code = "ai_provider_unavailable"
    default_message = "The generative model did not answer; try again or use the extractive summary."


class _Failure(Exception):
    """Internal: one failed call, with the fallback reason code it maps to."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class RouteChoice:
    """What the model chose — an agent, a skill class — or a fallback with its reason."""

    outcome: Literal["agent", "skill", "fallback"]
    agent_id: str | None = None
    skill: str | None = None
    reason: str = ""
    fallback_reason: str | None = None
    detail: str = ""
    latency_ms: float | None = None
    completion: str = field(default="", repr=False)

    @property
    def fallback(self) -> bool:
        return self.outcome == "fallback"


def fallback(*, reason: str, detail: str = "", latency_ms: float | None = None, completion: str = "") -> RouteChoice:
    """A fallback choice; the reason must be one of FALLBACK_REASONS."""
    assert reason in FALLBACK_REASONS, reason
    return RouteChoice(
        outcome="fallback", fallback_reason=reason, detail=detail, latency_ms=latency_ms, completion=completion
    )


class ProviderClient:
    """One configured chat-completions endpoint. Keeps a requests.Session for connection reuse."""

    def __init__(self, *, base_url: str, model: str, api_key: str = "", timeout: float = DEFAULT_TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self._session = requests.Session()

    def __repr__(self) -> str:  # never show the key
        return f"ProviderClient(base_url={self.base_url!r}, model={self.model!r}, timeout={self.timeout})"

    def complete(self, *, messages: Sequence[Mapping[str, str]], temperature: float = 0.0) -> str:
        """The text of the first choice. Raises ProviderUnavailable (with `details["reason"]`) on any failure."""
        try:
            return self._complete(messages=messages, temperature=temperature)
        except _Failure as failure:
            raise ProviderUnavailable(
                f"The generative model did not answer usably ({failure.reason}): {failure.detail}",
                details={"reason": failure.reason},
            ) from None

    def route(
        self,
        *,
        conversation: Mapping[str, Any],
        agents: Sequence[Mapping[str, Any]],
        skills: Sequence[str] = (),
        template: str = DEFAULT_ROUTING_TEMPLATE,
        min_candidates: int = 2,
    ) -> RouteChoice:
        """Ask the model for an agent or a skill among the real candidates. Never raises.

        Agents at capacity are not candidates. With fewer than `min_candidates` agents + skills there
        is nothing to choose between, so the call is not made and the platform engine decides.
        """
        candidates = [agent for agent in agents if _has_room(agent)]
        skill_names = list(skills) or sorted({name for agent in candidates for name in _skills_of(agent)})
        if len(candidates) + len(skill_names) < min_candidates:
            return fallback(
                reason="too_few_candidates", detail=f"{len(candidates)} agents with room, {len(skill_names)} skills"
            )
        try:
            prompt = prompt_fill(template=template, conversation=conversation, agents=candidates, skills=skill_names)
        except DomainError as exc:
            return fallback(reason="invalid_prompt_template", detail=exc.message)

        started = time.perf_counter()
        try:
            text = self._complete(messages=[{"role": "system", "content": SYSTEM_MESSAGE}, _user(prompt)])
        except _Failure as failure:
            latency = (time.perf_counter() - started) * 1000
            logger.warning("AI route fell back: %s (%s)", failure.reason, failure.detail)
            return fallback(reason=failure.reason, detail=failure.detail, latency_ms=latency)
        latency = (time.perf_counter() - started) * 1000
        choice = parse_route_completion(
            text=text, agent_ids=[str(agent.get("id")) for agent in candidates], skills=skill_names
        )
        if choice.fallback:
            logger.warning("AI route fell back: %s (%s)", choice.fallback_reason, choice.detail)
        return dataclasses.replace(choice, latency_ms=latency)

    def summarize(self, *, messages: Sequence[Mapping[str, Any]], template: str = DEFAULT_SUMMARY_TEMPLATE) -> str:
        """A generated summary of the conversation. Raises ProviderUnavailable when the model fails."""
        prompt = prompt_fill(template=template, conversation={"messages": list(messages)})
        text = self.complete(messages=[{"role": "system", "content": SYSTEM_MESSAGE}, _user(prompt)]).strip()
        if not text:
            raise ProviderUnavailable("The generative model returned an empty summary.", details={"reason": "empty"})
        return text

    def _complete(self, *, messages: Sequence[Mapping[str, str]], temperature: float = 0.0) -> str:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = {"model": self.model, "messages": list(messages), "temperature": temperature}
        try:
            response = self._session.post(
                f"{self.base_url}/chat/completions", json=body, headers=headers, timeout=self.timeout
            )
        except requests.Timeout:
            raise _Failure("timeout", f"no answer within {self.timeout:g} s") from None
        except requests.ConnectionError as exc:
            raise _Failure("connection_error", type(exc).__name__) from None
        except requests.RequestException as exc:
            raise _Failure("connection_error", str(exc)[:200]) from None
        if response.status_code >= 400:
            raise _Failure("http_error", f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Failure("bad_response", f"not a chat completion: {response.text[:200]}") from None
        if not isinstance(content, str):
            raise _Failure("bad_response", "the message content is not text")
        return content


def provider_from_settings() -> ProviderClient | None:
    """The configured provider, or None when AI_PROVIDER_BASE_URL or AI_PROVIDER_MODEL is unset."""
    base_url = settings.AI_PROVIDER_BASE_URL
    model = settings.AI_PROVIDER_MODEL
    if not base_url or not model:
        return None
    raw_timeout = settings.AI_PROVIDER_TIMEOUT
    try:
        timeout = float(raw_timeout) if raw_timeout else DEFAULT_TIMEOUT
    except ValueError:
        logger.warning("AI_PROVIDER_TIMEOUT=%r is not a number; using %s s", raw_timeout, DEFAULT_TIMEOUT)
        timeout = DEFAULT_TIMEOUT
    return ProviderClient(
        base_url=str(base_url), model=str(model), api_key=str(settings.AI_PROVIDER_API_KEY or ""), timeout=timeout
    )


def choose_route(
    *,
    conversation: Mapping[str, Any],
    agents: Sequence[Mapping[str, Any]],
    skills: Sequence[str] = (),
    provider: ProviderClient | None,
    template: str = DEFAULT_ROUTING_TEMPLATE,
) -> RouteChoice:
    """The AI engine's decision for one conversation; `provider=None` is the "not configured" fallback."""
    if provider is None:
        return fallback(reason="not_configured", detail="AI_PROVIDER_BASE_URL / AI_PROVIDER_MODEL are not set")
    return provider.route(conversation=conversation, agents=agents, skills=skills, template=template)


def summarize(*, messages: Sequence[Mapping[str, Any]], provider: ProviderClient | None = None) -> str:
    """A generated conversation summary; raises ProviderNotConfigured rather than faking one."""
    provider = provider or provider_from_settings()
    if provider is None:
        raise ProviderNotConfigured()
    return provider.summarize(messages=messages)


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def parse_route_completion(*, text: str, agent_ids: Sequence[str], skills: Sequence[str] = ()) -> RouteChoice:
    """Read `{"agent_id": …, "skill": …, "reason": …}` out of a completion and check it against the candidates.

    Tolerates code fences and prose around the object (small models add both). An agent id must be
    one of `agent_ids` (compared as strings; a number is accepted for a numeric id); a skill must be
    one of `skills` (case-insensitive, returned as spelled in `skills`). A valid agent wins over a
    skill. Anything else is a fallback — a hallucinated agent is never routed to.
    """
    data = _json_object(text)
    if data is None:
        return fallback(reason="unparseable", detail="no JSON object in the completion", completion=text)
    agent_id, skill, reason = data.get("agent_id"), data.get("skill"), data.get("reason", "")
    if isinstance(agent_id, int) and not isinstance(agent_id, bool):
        agent_id = str(agent_id)
    if not _optional_str(agent_id) or not _optional_str(skill) or not _optional_str(reason):
        return fallback(
            reason="unparseable", detail="agent_id, skill and reason must be strings or null", completion=text
        )
    agent_id = (agent_id or "").strip() or None
    skill = (skill or "").strip() or None
    reason = (reason or "").strip()

    canonical_skill = None
    if skill is not None:
        canonical_skill = next((name for name in skills if name.lower() == skill.lower()), None)
    if agent_id is not None:
        if agent_id not in {str(candidate) for candidate in agent_ids}:
            return fallback(reason="unknown_agent", detail=f"{agent_id!r} is not an available agent", completion=text)
        return RouteChoice(outcome="agent", agent_id=agent_id, skill=canonical_skill, reason=reason, completion=text)
    if skill is not None:
        if canonical_skill is None:
            return fallback(reason="unknown_skill", detail=f"{skill!r} is not an offered skill", completion=text)
        return RouteChoice(outcome="skill", skill=canonical_skill, reason=reason, completion=text)
    return fallback(reason="empty_choice", detail="the model chose neither an agent nor a skill", completion=text)


def _json_object(text: str) -> dict | None:
    candidates = [match.group(1) for match in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start in [index for index, char in enumerate(candidate) if char == "{"]:
            try:
                value, _end = decoder.raw_decode(candidate, start)
            except ValueError:
                continue
            if isinstance(value, dict) and ({"agent_id", "skill"} & value.keys()):
                return value
    return None


def _optional_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _has_room(agent: Mapping[str, Any]) -> bool:
    capacity = agent.get("capacity")
    return capacity is None or (agent.get("load") or 0) < capacity


def _skills_of(agent: Mapping[str, Any]) -> list[str]:
    skills = agent.get("skills") or []
    return [str(name) for name in skills]


def _user(prompt: str) -> dict[str, str]:
    return {"role": "user", "content": prompt}
