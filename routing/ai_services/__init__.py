"""AI routing wired into the platform: `plan` (the A/B arm and the AI plan of one route), `training`
(feedback and tuned models), `text` (summaries and package drafts)."""

from .plan import (
    ARM_AI,
    ARM_PLATFORM,
    AiPlan,
    ab_arm,
    active_tuned_model,
    ai_config_for,
    ai_route_plan,
    conversation_characteristics,
)
from .text import conversation_summary, package_draft
from .training import (
    TrainingResult,
    route_feedback_record,
    skill_groups_of,
    training_examples,
    tuned_model_train,
    tuned_model_train_due,
    tuned_model_train_from_csv,
)

__all__ = [
    "ARM_AI",
    "ARM_PLATFORM",
    "AiPlan",
    "TrainingResult",
    "ab_arm",
    "active_tuned_model",
    "ai_config_for",
    "ai_route_plan",
    "conversation_characteristics",
    "conversation_summary",
    "package_draft",
    "route_feedback_record",
    "skill_groups_of",
    "training_examples",
    "tuned_model_train",
    "tuned_model_train_due",
    "tuned_model_train_from_csv",
]
