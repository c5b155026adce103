"""Generated text: the workspace's conversation summary (0069) and package drafts (0115) — from the
configured provider, with plain fallbacks that say a provider is needed; nothing fakes generated text."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from ccp.packages.manifest import validate_manifest
from tenants.models import Tenant

from ..ai.prompts import (
    DEFAULT_PACKAGE_DRAFT_TEMPLATE,
    DEFAULT_SUMMARY_TEMPLATE,
    draft_prompt_fill,
    prompt_template_check,
)
from ..ai.provider import SYSTEM_MESSAGE, ProviderNotConfigured, provider_from_settings
from ..ai.summary import extractive_summary
from ..models import (
    PromptTemplate,
)
from .ai_plan import prompt_template_text


def conversation_summary(*, tenant: Tenant, messages: Sequence[dict]) -> dict:
    """A generated summary when a provider is configured and answers; else the extractive one, saying so.

    Nothing here fakes generated text: `source` tells the reader which one they got.
    """
    provider = provider_from_settings()
    extractive = extractive_summary(messages=messages)
    if provider is None:
        return {
            "summary": extractive,
            "source": "extractive",
            "note": "The customer's own sentences. A generated summary needs a generative model: "
            "set AI_PROVIDER_BASE_URL and AI_PROVIDER_MODEL.",
        }
    template = prompt_template_text(
        tenant_id=tenant.pk, purpose=PromptTemplate.Purpose.SUMMARY, default=DEFAULT_SUMMARY_TEMPLATE
    )
    try:
        prompt_template_check(purpose=PromptTemplate.Purpose.SUMMARY, template=template)
        return {"summary": provider.summarize(messages=messages, template=template), "source": "provider", "note": ""}
    except Exception as exc:  # the provider failed: show the quotes, and say why
        message = getattr(exc, "message", type(exc).__name__)
        return {"summary": extractive, "source": "extractive", "note": f"The generative model failed: {message}"}


def package_draft(*, description: str, partner_client_ids: set[str]) -> dict:
    """A draft package manifest generated from a partner's description (0115), validated, never created.

    Raises ProviderNotConfigured (503) without a provider, ProviderUnavailable (503) when it fails.
    The answer says what is wrong with the draft, so a person reviews it before creating a package.
    """
    provider = provider_from_settings()
    if provider is None:
        raise ProviderNotConfigured(
            "No generative model is configured, so a package cannot be drafted: set AI_PROVIDER_BASE_URL and "
            "AI_PROVIDER_MODEL, or write the manifest yourself (PARTNER_API.md)."
        )
    prompt = draft_prompt_fill(template=DEFAULT_PACKAGE_DRAFT_TEMPLATE, description=description)
    completion = provider.complete(
        messages=[{"role": "system", "content": SYSTEM_MESSAGE}, {"role": "user", "content": prompt}]
    )
    manifest = _first_json_object(completion)
    if manifest is None:
        problems = {"manifest": ["the model's answer holds no JSON object; try again or describe the channel more"]}
    else:
        problems = validate_manifest(manifest, partner_client_ids=partner_client_ids)
    return {
        "manifest": manifest,
        "problems": problems,
        "valid": manifest is not None and not problems,
        "model": provider.model,
    }


def _first_json_object(text: str) -> dict | None:
    decoder = json.JSONDecoder()
    for match in [m.group(1) for m in re.finditer(r"```(?:json|JSON)?\s*(.*?)```", text, re.DOTALL)] + [text]:
        for start in [i for i, char in enumerate(match) if char == "{"]:
            try:
                value, _end = decoder.raw_decode(match, start)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None
