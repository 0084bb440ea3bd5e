"""The risk score: explainable rules kept as data (`RiskRule` rows), each a factor below that looks at one
fact about a task and, when it applies, adds the rule's points with a sentence saying why. The score is the sum
(at most 100); its level comes from the RISK_LEVEL_* settings. Execution calls `tasks_risk_assess` for every new
task (registered in apps.py); `task_risk_reassess` is the same for a task that exists (its own income and
concerns count too)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Max, Q, Sum

from apps.execution.models import AIModel, ExecutionTask, TaskType
from apps.execution.services import RiskAssessment, risk_level_of
from apps.income.models import IncomeEvent
from apps.offers.models import OfferTemplate

from .models import Concern, RiskRule

Kind = RiskRule.Kind
CODE = re.compile(r"```|\bdef \w+\s*\(|\bclass \w+\s*[:(]|^\s*(?:import|from) \w+|\bfunction\s*\w*\s*\(|"
                  r"diff --git|^@@ ", re.IGNORECASE | re.MULTILINE)  # fmt: skip
SHELL = re.compile(r"\brm\s+-rf\b|\bsudo\b|\bcurl\b[^\n|]*\|\s*(?:ba)?sh\b|\bchmod\b|\bbash\s+-c\b|\$\(|\bwget\b|"
                   r"\bssh\b|\bmkfs\b|\bdd\s+if=", re.IGNORECASE)  # fmt: skip
SQL = re.compile(r"\b(?:drop|truncate|alter)\s+table\b|\bdelete\s+from\b|\binsert\s+into\b|\bupdate\s+\w+\s+set\b|"
                 r"\bgrant\s+\w+|\bselect\b[^\n]{0,200}\bfrom\b", re.IGNORECASE)  # fmt: skip
CODE_TARGET_KEYS = ("diff", "patch", "files", "target_files", "target", "repository", "module")


@dataclass(frozen=True)
class ModelStats:
    runs: int
    failed: int
    retried: int

    def percent(self, count: int) -> Decimal:
        return Decimal(count * 100) / self.runs if self.runs else Decimal(0)


@dataclass
class Facts:
    """What the rules look at, for one task."""

    task_type: TaskType
    ai_model: AIModel
    payload: dict
    payload_text: str  # as JSON: its size
    payload_strings: str  # every key and string value, one per line: what the patterns read
    model_stats: dict[int, ModelStats]  # by window
    money: Decimal
    concerns: int


def _unrated(rule, facts):
    if not facts.task_type.is_rated:
        return f"task type {facts.task_type.slug} has never been rated by a reviewer"
    return None


def _rated(level):
    def factor(rule, facts):
        if facts.task_type.is_rated and facts.task_type.risk_level == level:
            return f"task type {facts.task_type.slug} is rated {level} risk"
        return None

    return factor


def _model_rate(attribute: str, verb: str):
    def factor(rule, facts):
        stats = facts.model_stats.get(rule.window or 200)
        if not stats or not stats.runs:
            return None
        percent = stats.percent(getattr(stats, attribute))
        if percent > (rule.threshold or 0):
            return f"model {facts.ai_model.name} {verb} {percent:.0f}% of its last {stats.runs} runs"
        return None

    return factor


def _payload_size(rule, facts):
    size = len(facts.payload_text.encode())
    if size > (rule.threshold or 0):
        return f"payload is {size:,} bytes (over {int(rule.threshold or 0):,})"
    return None


def _pattern(pattern: re.Pattern, what: str):
    def factor(rule, facts):
        found = pattern.search(facts.payload_strings)
        if found:
            return f"payload holds {what}: {found.group(0).strip()[:40]!r}"
        return None

    return factor


def _code_target(rule, facts):
    keys = [key for key in CODE_TARGET_KEYS if facts.payload.get(key)]
    if keys:
        return f"payload names code to change ({', '.join(keys)})"
    return None


def _money(rule, facts):
    if facts.money > (rule.threshold or 0):
        return f"{facts.money:,.2f} {settings.INCOME_CURRENCY.upper()} at stake (over {rule.threshold or 0:,.2f})"
    return None


def _concerns(rule, facts):
    if facts.concerns:
        return f"{facts.concerns} open concern{'s' if facts.concerns > 1 else ''} on this task, its type or model"
    return None


FACTORS: dict[str, Callable[[RiskRule, Facts], str | None]] = {
    Kind.TASK_TYPE_UNRATED: _unrated,
    Kind.TASK_TYPE_MEDIUM: _rated(TaskType.RiskLevel.MEDIUM),
    Kind.TASK_TYPE_HIGH: _rated(TaskType.RiskLevel.HIGH),
    Kind.MODEL_FAILURE_RATE: _model_rate("failed", "failed"),
    Kind.MODEL_RETRY_RATE: _model_rate("retried", "needed a retry in"),
    Kind.PAYLOAD_SIZE: _payload_size,
    Kind.PAYLOAD_CODE: _pattern(CODE, "code"),
    Kind.PAYLOAD_SHELL: _pattern(SHELL, "a shell command"),
    Kind.PAYLOAD_SQL: _pattern(SQL, "SQL"),
    Kind.SELF_PROGRAMMING_TARGET: _code_target,
    Kind.MONEY_AT_STAKE: _money,
    Kind.OPEN_CONCERN: _concerns,
}
assert set(FACTORS) == set(Kind.values), "every rule kind needs a factor"
CONCERNS_COUNTED_MAX = 3


def strings_of(value) -> str:
    """Every key and string in a JSON value, one per line (a diff's own newlines kept)."""
    if isinstance(value, dict):
        return "\n".join(f"{key}\n{strings_of(item)}" for key, item in value.items())
    if isinstance(value, list):
        return "\n".join(strings_of(item) for item in value)
    return value if isinstance(value, str) else ""


def facts_of(*, task_type, ai_model, payload, model_stats, money, concerns) -> Facts:
    return Facts(task_type=task_type, ai_model=ai_model, payload=payload,
                 payload_text=json.dumps(payload, ensure_ascii=False), payload_strings=strings_of(payload),
                 model_stats=model_stats, money=money, concerns=concerns)  # fmt: skip


def assessment_of(rules: Sequence[RiskRule], facts: Facts) -> RiskAssessment:
    breakdown = []
    for rule in rules:
        why = FACTORS[rule.kind](rule, facts)
        if why is None or not rule.points:
            continue
        points = rule.points * (min(facts.concerns, CONCERNS_COUNTED_MAX) if rule.kind == Kind.OPEN_CONCERN else 1)
        breakdown.append({"rule": rule.kind, "points": points, "why": why})
    breakdown.sort(key=lambda item: -item["points"])
    score = min(100, sum(item["points"] for item in breakdown))
    return RiskAssessment(score=score, level=risk_level_of(score), breakdown=breakdown,
                          money_at_stake=facts.money.quantize(Decimal("0.01")))  # fmt: skip


def model_stats(ai_model_name: str, windows: set[int]) -> dict[int, ModelStats]:
    """Failures and retries among the model's most recent finished runs, for each window size."""
    stats = {}
    with connection.cursor() as cursor:
        for window in sorted(windows):
            cursor.execute(
                """SELECT count(*), count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE attempts > 1)
                   FROM (SELECT status, attempts FROM execution_tasks WHERE ai_model = %s
                         AND status IN ('succeeded', 'failed') ORDER BY created_at DESC, id DESC LIMIT %s) recent""",
                [ai_model_name, window],
            )
            stats[window] = ModelStats(*cursor.fetchone())
    return stats


def offers_price(task_type_id: int, ai_model_name: str) -> Decimal:
    """What the work sells for: the dearest active offer on this task type and model, in INCOME_CURRENCY."""
    price = OfferTemplate.objects.filter(
        task_type_id=task_type_id, ai_model_id=ai_model_name, is_active=True, currency=settings.INCOME_CURRENCY
    ).aggregate(price=Max("price"))["price"]
    return price or Decimal(0)


def _enabled_rules() -> list[RiskRule]:
    return list(RiskRule.objects.filter(enabled=True).order_by("kind"))


def _windows(rules) -> set[int]:
    return {rule.window or 200 for rule in rules if rule.kind in (Kind.MODEL_FAILURE_RATE, Kind.MODEL_RETRY_RATE)}


def _open_concerns(q: Q) -> int:
    return Concern.objects.filter(q, status=Concern.Status.OPEN).count()


def tasks_risk_assess(task_type: TaskType, ai_model: AIModel, payloads: Sequence[dict]) -> list[RiskAssessment]:
    """The assessment of each new task of one type on one model (a few queries per batch, not per task)."""
    rules = _enabled_rules()
    stats = model_stats(ai_model.name, _windows(rules))
    money = offers_price(task_type.pk, ai_model.name)
    concerns = _open_concerns(Q(task_type=task_type) | Q(ai_model=ai_model))
    return [
        assessment_of(rules, facts_of(task_type=task_type, ai_model=ai_model, payload=payload, model_stats=stats,
                                      money=money, concerns=concerns))  # fmt: skip
        for payload in payloads
    ]


class RiskContext:
    """Rules and per-type/model facts loaded once for re-scoring many tasks."""

    def __init__(self):
        self.rules = _enabled_rules()
        self._stats: dict[str, dict[int, ModelStats]] = {}
        self._money: dict[tuple[int, str], Decimal] = {}
        self._concerns: dict[tuple[int, str], int] = {}

    def assess(self, task: ExecutionTask) -> RiskAssessment:
        key = (task.task_type_id, task.ai_model_id)
        if task.ai_model_id not in self._stats:
            self._stats[task.ai_model_id] = model_stats(task.ai_model_id, _windows(self.rules))
        if key not in self._money:
            self._money[key] = offers_price(*key)
            self._concerns[key] = _open_concerns(Q(task_type_id=key[0]) | Q(ai_model_id=key[1]))
        income = IncomeEvent.objects.filter(task=task, currency=settings.INCOME_CURRENCY).aggregate(
            total=Sum("amount"))["total"] or Decimal(0)  # fmt: skip
        facts = facts_of(
            task_type=task.task_type, ai_model=task.ai_model, payload=task.payload,
            model_stats=self._stats[task.ai_model_id], money=self._money[key] + max(income, Decimal(0)),
            concerns=self._concerns[key] + _open_concerns(Q(task=task)),
        )  # fmt: skip
        return assessment_of(self.rules, facts)


def task_risk_reassess(task: ExecutionTask) -> RiskAssessment:
    return RiskContext().assess(task)
