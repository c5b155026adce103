"""Generated text: the workspace's conversation summary (0069) — from the configured provider, with a
plain fallback that says a provider is needed; nothing fakes generated text. (Package drafts are
ccp.packages.services.package_draft.)"""

from __future__ import annotations

from collections.abc import Sequence

from ccp.ai.prompts import (
    DEFAULT_SUMMARY_TEMPLATE,
    prompt_template_check,
)
from ccp.ai.provider import provider_from_settings
from ccp.ai.summary import extractive_summary
from tenants.models import Tenant

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
