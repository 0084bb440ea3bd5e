"""Drift and threshold alerts: each enabled rule judges every model x task type hour by hour; a metric beyond its
limit for `sustain_hours` complete hours in a row opens an alert (one open row per rule and pair), which closes
when the latest hour is back within it. An alert that comes back within DRIFT_QUIET_HOURS of closing reopens the
same row without a second notification (flap suppression)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import Alert, AlertRule, Metric
from .notify import alert_notify_push
from .series import HourFigures, baseline_of, hour_floor, hourly_figures, same_hour_history, value_of

logger = logging.getLogger(__name__)

# Which way is worse: +1 when a rise is bad, -1 when a fall is.
WORSE = {
    Metric.FAILURE_RATE: 1, Metric.P95_DURATION: 1, Metric.COST_PER_RUN: 1, Metric.MARGIN_PER_RUN: -1,
    Metric.REJECTION_RATE: 1, Metric.CONCERN_RATE: 1,
}  # fmt: skip
SERIES_HOURS = 24
DRIFT_LOCK = 7245082  # advisory lock key


@dataclass(frozen=True)
class Judgement:
    hour: datetime
    value: float | None
    median: float | None
    spread: float | None
    limit: float | None
    rises: bool  # True: beyond means above the limit

    @property
    def beyond(self) -> bool | None:
        """True / False; None when the hour cannot be judged (too few runs, no baseline)."""
        if self.value is None or self.limit is None:
            return None
        return self.value > self.limit if self.rises else self.value < self.limit


def judge(rule: AlertRule, hours: dict[datetime, HourFigures], hour: datetime) -> Judgement:
    figures = hours.get(hour)
    value = value_of(rule.metric, figures, rule.min_runs) if figures else None
    rises = rule.kind == AlertRule.Kind.ABOVE or (rule.kind == AlertRule.Kind.DRIFT and WORSE[rule.metric] > 0)
    if rule.kind != AlertRule.Kind.DRIFT:
        return Judgement(hour, value, None, None, float(rule.threshold), rises=rises)
    history = same_hour_history(hours, hour, rule.metric, rule.min_runs)
    judged = 0 if not figures else (
        figures.approved + figures.rejected if rule.metric == Metric.REJECTION_RATE else figures.runs
    )  # the count the rate is of: its sampling noise sets the least spread
    baseline = baseline_of(rule.metric, history, judged)
    if baseline is None:
        return Judgement(hour, value, None, None, None, rises=rises)
    limit = baseline.median + (1 if rises else -1) * float(rule.deviations) * baseline.spread
    return Judgement(hour, value, baseline.median, baseline.spread, limit, rises=rises)


def drift_evaluate(now: datetime | None = None) -> dict[str, int]:
    """Judge every enabled rule on every model x type with runs lately; open, update and close alerts."""
    now = now or timezone.now()
    current = hour_floor(now)  # the hour in progress is not judged
    rules = list(AlertRule.objects.filter(enabled=True))
    if not rules:
        return {"opened": 0, "closed": 0, "open": 0}
    longest = max(rule.sustain_hours for rule in rules)
    since = current - timedelta(days=settings.DRIFT_BASELINE_DAYS, hours=max(longest, SERIES_HOURS))
    figures = hourly_figures(since, current)
    counts = {"opened": 0, "closed": 0, "open": 0}
    judged: set[tuple[int, str, int]] = set()
    for rule in rules:
        for (ai_model, task_type_id), hours in figures.items():
            if rule.ai_model not in ("", ai_model) or rule.task_type_id not in (None, task_type_id):
                continue
            judged.add((rule.pk, ai_model, task_type_id))
            try:
                outcome = _alert_update(rule, ai_model, task_type_id, hours, current, now)
            except Exception:  # one pair's trouble must not stop the judgement of the others
                logger.exception("drift: %s on %s x %s failed", rule, ai_model, task_type_id)
                continue
            if outcome:
                counts[outcome] += 1
    # Open alerts nothing judges any more (rule disabled or narrowed, no runs for days) close: nobody can see
    # them return.
    for alert in Alert.objects.filter(status=Alert.Status.OPEN).select_related("rule"):
        if (alert.rule_id, alert.ai_model, alert.task_type_id) not in judged:
            Alert.objects.filter(pk=alert.pk, status=Alert.Status.OPEN).update(status=Alert.Status.CLOSED,
                                                                                closed_at=now)  # fmt: skip
            counts["closed"] += 1
    counts["open"] = Alert.objects.filter(status=Alert.Status.OPEN).count()
    return counts


def _alert_update(rule, ai_model, task_type_id, hours, current, now) -> str | None:
    recent = [judge(rule, hours, current - timedelta(hours=back)) for back in range(1, rule.sustain_hours + 1)]
    latest = recent[0]
    sustained = all(judgement.beyond for judgement in recent)
    series = [
        [judgement.hour.isoformat(), judgement.value, judgement.median, judgement.limit]
        for judgement in (judge(rule, hours, current - timedelta(hours=back)) for back in range(SERIES_HOURS, 0, -1))
    ]
    with transaction.atomic():
        with connection.cursor() as cursor:  # runs that overlap judge one pair at a time
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DRIFT_LOCK])
        alert = (
            Alert.objects.select_for_update().filter(rule=rule, ai_model=ai_model, task_type_id=task_type_id)
            .order_by("-opened_at").first()
        )  # fmt: skip
        is_open = alert is not None and alert.status == Alert.Status.OPEN
        figures = {"value": latest.value or 0.0, "baseline_median": latest.median, "baseline_spread": latest.spread,
                   "series": series, "last_seen": now}  # fmt: skip
        if is_open:
            if latest.beyond is False:
                Alert.objects.filter(pk=alert.pk).update(status=Alert.Status.CLOSED, closed_at=now, series=series)
                alert_notify_push(alert.pk, "closed")
                return "closed"
            if latest.value is not None and latest.limit is not None:
                Alert.objects.filter(pk=alert.pk).update(limit=latest.limit, **figures)
            return None
        if not sustained:
            return None
        quiet_since = now - timedelta(hours=settings.DRIFT_QUIET_HOURS)
        if alert is not None and alert.closed_at and alert.closed_at >= quiet_since:
            Alert.objects.filter(pk=alert.pk).update(
                status=Alert.Status.OPEN, closed_at=None, reopened=alert.reopened + 1, limit=latest.limit, **figures
            )
            return None  # flapping: the same alert again, no second notification
        alert = Alert.objects.create(rule=rule, ai_model=ai_model, task_type_id=task_type_id, opened_at=now,
                                     limit=latest.limit, **figures)  # fmt: skip
        alert_notify_push(alert.pk, "opened")
        return "opened"
