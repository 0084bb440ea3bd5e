"""Hourly metric values per `ai_model` x task type, read from the rollups (and, for review decisions and concerns,
from their own small tables over the same hours): what drift alerts judge and what an alert's page draws."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count
from django.db.models.functions import TruncHour

from apps.execution.models import ExecutionEvent
from apps.income.models import IncomeRollup, RollupGrain, TaskRollup
from apps.income.rollups import hist_merge, hist_percentile
from apps.safety.models import Concern

from .models import Metric

Pair = tuple[str, int]  # (ai_model, task_type_id)


@dataclass
class HourFigures:
    """What one model x type did in one hour."""

    runs: int = 0
    failures: int = 0
    timed: int = 0
    hist: list[int] = field(default_factory=list)
    max_ms: int = 0
    cost: Decimal = Decimal("0")
    cost_unknown: int = 0
    income_net: Decimal = Decimal("0")
    approved: int = 0
    rejected: int = 0
    concerns: int = 0


def value_of(metric: str, figures: HourFigures, min_runs: int) -> float | None:
    """The metric for one hour, or None when the hour has too little to judge."""
    if metric == Metric.REJECTION_RATE:
        decisions = figures.approved + figures.rejected
        return figures.rejected / decisions if decisions >= min_runs else None
    if figures.runs < min_runs:
        return None
    if metric == Metric.FAILURE_RATE:
        return figures.failures / figures.runs
    if metric == Metric.P95_DURATION:
        p95 = hist_percentile(figures.hist, 0.95, max_ms=figures.max_ms) if figures.timed >= min_runs else None
        return p95 / 1000 if p95 is not None else None
    if metric == Metric.COST_PER_RUN:
        priced = figures.runs - figures.cost_unknown
        return float(figures.cost / priced) if priced >= min_runs else None
    if metric == Metric.MARGIN_PER_RUN:
        return float((figures.income_net - figures.cost) / figures.runs)
    if metric == Metric.CONCERN_RATE:
        return figures.concerns / figures.runs
    raise ValueError(f"unknown metric {metric}")


def hourly_figures(since: datetime, until: datetime) -> dict[Pair, dict[datetime, HourFigures]]:
    """Every model x type with runs in [since, until), hour by hour."""
    figures: dict[Pair, dict[datetime, HourFigures]] = defaultdict(lambda: defaultdict(HourFigures))
    hours = {"grain": RollupGrain.HOUR, "period__gte": since, "period__lt": until}
    for row in TaskRollup.objects.filter(**hours).values_list(
        "ai_model", "task_type_id", "period", "runs", "failures", "duration_count", "duration_hist", "duration_max_ms",
        "cost", "cost_unknown",
    ):  # fmt: skip
        ai_model, task_type_id, period, runs, failures, timed, hist, max_ms, cost, unknown = row
        hour = figures[(ai_model, task_type_id)][period]
        hour.runs, hour.failures, hour.timed, hour.hist = runs, failures, timed, hist_merge([hist])
        hour.max_ms, hour.cost, hour.cost_unknown = max_ms, cost, unknown
    income = IncomeRollup.objects.filter(**hours, currency=settings.INCOME_CURRENCY, ai_model__isnull=False,
                                         task_type__isnull=False)  # fmt: skip
    for ai_model, task_type_id, period, net in income.values_list("ai_model", "task_type_id", "period", "net"):
        if (ai_model, task_type_id) in figures:
            figures[(ai_model, task_type_id)][period].income_net += net
    decisions = (
        ExecutionEvent.objects.filter(kind__in=["approved", "rejected"], created_at__gte=since, created_at__lt=until)
        .values("ai_model", "task__task_type_id", "kind").annotate(hour=TruncHour("created_at"), n=Count("id"))
    )  # fmt: skip
    for line in decisions:
        hour = figures[(line["ai_model"], line["task__task_type_id"])][line["hour"]]
        setattr(hour, line["kind"], getattr(hour, line["kind"]) + line["n"])
    concerns = (
        Concern.objects.filter(created_at__gte=since, created_at__lt=until)
        .annotate(hour=TruncHour("created_at"))
        .values_list("hour", "task__ai_model_id", "task__task_type_id", "ai_model_id", "task_type_id")
    )  # fmt: skip
    for hour_start, task_model, task_type, on_model, on_type in concerns:
        for (ai_model, task_type_id), hours_of_pair in figures.items():
            if (task_model, task_type) == (ai_model, task_type_id) or on_model == ai_model or on_type == task_type_id:
                hours_of_pair[hour_start].concerns += 1
    return figures


@dataclass(frozen=True)
class Baseline:
    median: float
    spread: float
    points: int


def baseline_of(metric: str, history: list[float], current_runs: int) -> Baseline | None:
    """Median and spread (1.4826 x the median absolute deviation, at least the sampling noise of a rate or 5 % of
    the median) of the same hour on the trailing days; None with fewer than 3 of them."""
    if len(history) < 3:
        return None
    ordered = sorted(history)
    median = _median(ordered)
    spread = 1.4826 * _median(sorted(abs(value - median) for value in ordered))
    if metric in (Metric.FAILURE_RATE, Metric.REJECTION_RATE):
        noise = (max(median, 0.01) * (1 - min(median, 0.99)) / max(current_runs, 1)) ** 0.5
        spread = max(spread, noise, 0.01)
    else:
        spread = max(spread, 0.05 * abs(median), 1e-6)
    return Baseline(median=median, spread=spread, points=len(history))


def _median(ordered: list[float]) -> float:
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def same_hour_history(hours: dict[datetime, HourFigures], hour: datetime, metric: str, min_runs: int) -> list[float]:
    values = []
    for day in range(1, settings.DRIFT_BASELINE_DAYS + 1):
        earlier = hours.get(hour - timedelta(days=day))
        value = value_of(metric, earlier, min_runs) if earlier else None
        if value is not None:
            values.append(value)
    return values


def hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)

