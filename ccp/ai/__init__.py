"""The Django-free AI code (FIG 17, 18), in one place: prompt templates, a generative-model client
that always falls back safely, the extractive summary, a tuning layer trained on routes and their
outcomes (with a sentence encoder run in numpy for its ensemble head), the AI routing decision, and
an offline evaluation on public data.

Plain Python on purpose: the records (RouteDecision, RouteFeedback, PromptTemplate, TunedModel) and
the services that read and write them (routing.services.ai_*, ccp.packages.services.package_draft)
call into these modules, never the other way round. See docs/ai-routing.md.
"""
