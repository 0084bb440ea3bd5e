"""How risky a new task is: execution asks, a higher app answers. The rules live in apps.safety (data that
reviewers edit, reading offers, income and concerns that execution cannot import); it registers its scorer
here at start-up, as features register holds with the pause switch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings

from ..models import AIModel, RiskLevel, TaskType


@dataclass(frozen=True)
class RiskAssessment:
    score: int = 0
    level: str = RiskLevel.LOW
    breakdown: list[dict[str, Any]] = field(default_factory=list)  # [{"rule", "points", "why"}]
    money_at_stake: Decimal = Decimal(0)

    @property
    def needs_review(self) -> bool:
        return self.score >= settings.RISK_REVIEW_THRESHOLD


# (task_type, ai_model, payloads) -> one assessment per payload
RiskScorer = Callable[[TaskType, AIModel, Sequence[dict]], list[RiskAssessment]]
_scorers: list[RiskScorer] = []


def task_risk_scorer_register(scorer: RiskScorer) -> None:
    if scorer not in _scorers:
        _scorers.append(scorer)


def tasks_risk_assess(*, task_type: TaskType, ai_model: AIModel, payloads: Sequence[dict]) -> list[RiskAssessment]:
    """The assessment of each payload (no scorer registered: nothing known, score 0)."""
    if not _scorers:
        return [RiskAssessment() for _ in payloads]
    return _scorers[-1](task_type, ai_model, payloads)


def risk_level_of(score: int) -> str:
    """low / medium / high / critical from the score and the RISK_LEVEL_* settings."""
    if score >= settings.RISK_LEVEL_CRITICAL:
        return RiskLevel.CRITICAL
    if score >= settings.RISK_LEVEL_HIGH:
        return RiskLevel.HIGH
    if score >= settings.RISK_LEVEL_MEDIUM:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW
