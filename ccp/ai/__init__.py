"""AI routing (FIG 17, 18): prompt templates, a generative-model client that always falls back safely,
a tuning layer trained on routes and their outcomes, and an offline evaluation on public data.

Plain Python on purpose: the routing engine's models (RouteDecision, RouteFeedback, PromptTemplate…)
call into these modules, never the other way round. See docs/ai-routing.md.
"""
