"""ROI per `ai_model` x task type, read from the daily rollups (database sums, exact decimals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property

from django.db.models import Q, Sum

from apps.execution.models import TaskType

from .models import IncomeDailyRollup, TaskDailyRollup

ZERO = Decimal("0")


@dataclass
class RoiRow:
    ai_model: str | None
    task_type: str | None
    tasks_run: int = 0
    tasks_succeeded: int = 0
    cost: Decimal = ZERO
    cost_unknown: int = 0
    income: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.income - self.cost

    @property
    def roi(self) -> Decimal | None:
        """Net per unit of cost; None without a cost to divide by."""
        return (self.net / self.cost).quantize(Decimal("0.0001")) if self.cost else None

    @property
    def roi_percent(self) -> Decimal | None:
        """ROI as people compare it: net as a percentage of cost (one decimal); -100 % when nothing was earned."""
        return (self.net * 100 / self.cost).quantize(Decimal("0.1")) if self.cost else None

    @property
    def income_per_succeeded_task(self) -> Decimal | None:
        """Unrounded: shown in the currency's decimals (`amount_text`)."""
        return self.income / self.tasks_succeeded if self.tasks_succeeded else None

    @property
    def is_unattributed(self) -> bool:
        return self.ai_model is None and self.task_type is None


@dataclass
class RoiReport:
    since: date
    until: date  # exclusive
    currency: str
    rows: list[RoiRow] = field(default_factory=list)  # attributed, by model then task type
    unattributed: RoiRow | None = None
    other_currencies: dict[str, Decimal] = field(default_factory=dict)  # income not in `currency`, not converted

    @cached_property
    def total(self) -> RoiRow:
        total = RoiRow(ai_model=None, task_type=None)
        for row in [*self.rows, *([self.unattributed] if self.unattributed else [])]:
            total.tasks_run += row.tasks_run
            total.tasks_succeeded += row.tasks_succeeded
            total.cost += row.cost
            total.cost_unknown += row.cost_unknown
            total.income += row.income
        return total

    def by_model(self) -> dict[str, RoiRow]:
        """Income and cost per `ai_model`, for the chart."""
        models: dict[str, RoiRow] = {}
        for row in self.rows:
            name = row.ai_model or "(no model)"
            merged = models.setdefault(name, RoiRow(ai_model=name, task_type=None))
            merged.cost += row.cost
            merged.income += row.income
        return models


def roi_by_model_and_type(*, since: date, until: date, currency: str) -> RoiReport:
    """Tasks finished and income received in [since, until) (UTC days), per `ai_model` x task type.

    AI costs are in `currency` (model prices are entered in it); income in other currencies is totalled apart."""
    tasks = (
        TaskDailyRollup.objects.filter(day__gte=since, day__lt=until)
        .values("ai_model", "task_type_id")
        .annotate(
            run=Sum("tasks_run"), succeeded=Sum("tasks_succeeded"), cost_sum=Sum("cost"), unknown=Sum("cost_unknown")
        )
        .filter(run__gt=0)
    )
    income = (
        IncomeDailyRollup.objects.filter(day__gte=since, day__lt=until)
        .values("currency", "ai_model", "task_type_id")
        .annotate(income=Sum("amount"), event_count=Sum("events"))
        .filter(~Q(event_count=0))
    )
    slugs = dict(TaskType.objects.values_list("pk", "slug"))
    groups: dict[tuple, RoiRow] = {}

    def group(ai_model, task_type_id) -> RoiRow:
        key = (ai_model, task_type_id)
        if key not in groups:
            groups[key] = RoiRow(ai_model=ai_model, task_type=slugs.get(task_type_id, task_type_id))
        return groups[key]

    for line in tasks:
        row = group(line["ai_model"], line["task_type_id"])
        row.tasks_run, row.tasks_succeeded, row.cost, row.cost_unknown = (
            line["run"], line["succeeded"], line["cost_sum"], line["unknown"]
        )  # fmt: skip
    report = RoiReport(since=since, until=until, currency=currency)
    for line in income:
        if line["currency"] == currency:
            group(line["ai_model"], line["task_type_id"]).income += line["income"]
        else:
            other = report.other_currencies
            other[line["currency"]] = other.get(line["currency"], ZERO) + line["income"]
    report.unattributed = groups.pop((None, None), None)
    report.rows = sorted(groups.values(), key=lambda row: (row.ai_model or "~", str(row.task_type or "~")))
    return report
