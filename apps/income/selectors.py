"""ROI per `ai_model` x task type, read from the rollups' day rows (database sums, exact decimals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cached_property

from django.db.models import Q, Sum

from apps.execution.models import TaskType

from .models import IncomeRollup, IncomeSettlementDailyRollup, RollupGrain, TaskRollup

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
    income_net: Decimal = ZERO  # after Stripe's fees, in the same currency (the income while a fee is unknown)
    fee_unknown: int = 0  # Stripe rows whose fee is not read yet

    @property
    def fees(self) -> Decimal:
        return self.income - self.income_net

    @property
    def net(self) -> Decimal:
        """What the work earned after Stripe's fees, refunds, disputes and its AI cost."""
        return self.income_net - self.cost

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
class SettlementTotal:
    """Money as it reached the Stripe balance (balance transactions), in the settlement currency."""

    currency: str
    gross: Decimal = ZERO
    fee: Decimal = ZERO
    net: Decimal = ZERO
    rows: int = 0


@dataclass
class RoiReport:
    since: date
    until: date  # exclusive
    currency: str
    rows: list[RoiRow] = field(default_factory=list)  # attributed, by model then task type
    unattributed: RoiRow | None = None
    other_currencies: dict[str, Decimal] = field(default_factory=dict)  # income not in `currency`, not converted
    settlement: dict[str, SettlementTotal] = field(default_factory=dict)  # what reached the balance, per currency

    @cached_property
    def total(self) -> RoiRow:
        total = RoiRow(ai_model=None, task_type=None)
        for row in [*self.rows, *([self.unattributed] if self.unattributed else [])]:
            total.tasks_run += row.tasks_run
            total.tasks_succeeded += row.tasks_succeeded
            total.cost += row.cost
            total.cost_unknown += row.cost_unknown
            total.income += row.income
            total.income_net += row.income_net
            total.fee_unknown += row.fee_unknown
        return total

    def by_model(self) -> dict[str, RoiRow]:
        """Income and cost per `ai_model`, for the chart."""
        models: dict[str, RoiRow] = {}
        for row in self.rows:
            name = row.ai_model or "(no model)"
            merged = models.setdefault(name, RoiRow(ai_model=name, task_type=None))
            merged.cost += row.cost
            merged.income += row.income
            merged.income_net += row.income_net
        return models


def roi_by_model_and_type(*, since: date, until: date, currency: str) -> RoiReport:
    """Tasks finished and income received in [since, until) (UTC days), per `ai_model` x task type.

    AI costs are in `currency` (model prices are entered in it); income in other currencies is totalled apart."""
    days = {
        "grain": RollupGrain.DAY,
        "period__gte": datetime.combine(since, time.min, tzinfo=UTC),
        "period__lt": datetime.combine(until, time.min, tzinfo=UTC),
    }
    tasks = (
        TaskRollup.objects.filter(**days)
        .values("ai_model", "task_type_id")
        .annotate(run=Sum("runs"), succeeded=Sum("successes"), cost_sum=Sum("cost"), unknown=Sum("cost_unknown"))
        .filter(run__gt=0)
    )
    income = (
        IncomeRollup.objects.filter(**days)
        .values("currency", "ai_model", "task_type_id")
        .annotate(
            income=Sum("amount"), income_net=Sum("net"), fee_unknown=Sum("fee_unknown"), event_count=Sum("events")
        )
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
            row = group(line["ai_model"], line["task_type_id"])
            row.income += line["income"]
            row.income_net += line["income_net"]
            row.fee_unknown += line["fee_unknown"]
        else:
            other = report.other_currencies
            other[line["currency"]] = other.get(line["currency"], ZERO) + line["income"]
    settled = (
        IncomeSettlementDailyRollup.objects.filter(day__gte=since, day__lt=until)
        .values("settlement_currency")
        .annotate(gross=Sum("gross"), fee=Sum("fee"), net=Sum("net"), rows=Sum("events"))
        .filter(~Q(rows=0))
        .order_by("settlement_currency")
    )
    for line in settled:
        code = line["settlement_currency"]
        report.settlement[code] = SettlementTotal(code, line["gross"], line["fee"], line["net"], line["rows"])
    report.unattributed = groups.pop((None, None), None)
    report.rows = sorted(groups.values(), key=lambda row: (row.ai_model or "~", str(row.task_type or "~")))
    return report
