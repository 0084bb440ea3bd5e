"""The admin index as the operations dashboard (unfold's DASHBOARD_CALLBACK): where tasks stand now, throughput,
failures and durations per stage over time, cost against income, lead times, open blind spots and alerts, the
review backlog, the pause switch and holds.

It reads rollups and small tables only (tasks waiting are counted through the status index, each count stopping at
COUNT_CAP), so it costs the same at 10k and 10M tasks (bench/admin_scale.py). Each section shows only to people
allowed to open the lists it links to; every bar is a link to the filtered list behind it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone

from apps.execution.models import ExecutionTask, ScopedHold, TaskStatus, TaskType
from apps.execution.services.control import execution_control
from apps.income.models import RollupGrain, TaskRollup
from apps.income.rollups import hist_merge, hist_percentile
from apps.income.selectors import roi_by_model_and_type
from apps.safety.selectors import review_queue_length

from .models import Alert, Finding, LeadTime

COUNT_CAP = 10_000
DAYS_SHOWN = 14
ROI_DAYS = 30
LEAD_TIME_MONTHS = 6
CHART_HEIGHT = 96
WAITING_STATUSES = (TaskStatus.NEEDS_REVIEW, TaskStatus.PENDING, TaskStatus.QUEUED, TaskStatus.RUNNING)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str
    url: str
    x: float = 0
    y: float = 0
    width: float = 0
    height: float = 0
    tone: str = "primary"


def bars(points: list[tuple[str, float, str, str]], *, tone="primary", tones=None, width=560) -> list[Bar]:
    """Bar geometry for an inline SVG chart: (label, value, text shown on hover, link) -> positioned bars."""
    if not points:
        return []
    top = max((value for _, value, _, _ in points), default=0) or 1
    step = width / len(points)
    return [
        Bar(label, value, text, url, x=index * step + 2, width=max(step - 4, 2),
            height=CHART_HEIGHT * value / top, y=CHART_HEIGHT - CHART_HEIGHT * value / top,
            tone=(tones[index] if tones else tone))  # fmt: skip
        for index, (label, value, text, url) in enumerate(points)
    ]


def task_list(**filters) -> str:
    return f"{reverse('admin:execution_executiontask_changelist')}?{urlencode(filters)}"


def day_filters(day: date) -> dict[str, str]:
    """The task list's own date filter reads created_at: a day's link shows the tasks created that day."""
    return {"created_at__gte": day.isoformat(), "created_at__lt": (day + timedelta(days=1)).isoformat()}


def status_now() -> list[dict]:
    """Waiting and running tasks now (counted up to COUNT_CAP), finished ones in the last 24 hours (rollups)."""
    rows = []
    for status in WAITING_STATUSES:
        count = ExecutionTask.objects.filter(status=status)[: COUNT_CAP + 1].count()
        shown = f"{COUNT_CAP:,}+" if count > COUNT_CAP else f"{count:,}"
        rows.append({"status": status.value.replace("_", " "), "count": shown,
                     "url": task_list(status__exact=status.value)})  # fmt: skip
    since = timezone.now() - timedelta(hours=24)
    finished = TaskRollup.objects.filter(grain=RollupGrain.HOUR, period__gte=since).aggregate(
        runs=Sum("runs"), succeeded=Sum("successes"), failed=Sum("failures")
    )
    runs, succeeded, failed = (finished[key] or 0 for key in ("runs", "succeeded", "failed"))
    for label, count, status in (("succeeded (24 h)", succeeded, TaskStatus.SUCCEEDED),
                                 ("failed (24 h)", failed, TaskStatus.FAILED),
                                 ("cancelled after running (24 h)", runs - succeeded - failed, TaskStatus.CANCELLED)):
        rows.append({"status": label, "count": f"{count:,}", "url": task_list(status__exact=status.value)})
    return rows


def daily_series(today: date) -> dict:
    """Throughput, failure rate and p50/p95 per task type, day by day over DAYS_SHOWN days (UTC)."""
    first = today - timedelta(days=DAYS_SHOWN - 1)
    days = [first + timedelta(days=offset) for offset in range(DAYS_SHOWN)]
    rows = TaskRollup.objects.filter(
        grain=RollupGrain.DAY, period__gte=datetime.combine(first, time.min, tzinfo=UTC)
    ).values_list("period", "task_type_id", "runs", "failures", "duration_hist", "duration_max_ms")
    runs, failures = defaultdict(int), defaultdict(int)
    hists: dict[tuple[int, date], list] = defaultdict(list)
    highest: dict[tuple[int, date], int] = defaultdict(int)
    for period, task_type_id, run_count, failure_count, hist, max_ms in rows:
        day = period.astimezone(UTC).date()
        runs[day] += run_count
        failures[day] += failure_count
        hists[(task_type_id, day)].append(hist)
        highest[(task_type_id, day)] = max(highest[(task_type_id, day)], max_ms)
    throughput = bars([(f"{day:%d %b}", runs[day], f"{day:%a %d %b}: {runs[day]:,} runs", task_list(**day_filters(day)))
                       for day in days])  # fmt: skip
    failure_rate = bars([
        (f"{day:%d %b}", failures[day] / runs[day] if runs[day] else 0,
         f"{day:%a %d %b}: {failures[day]:,} of {runs[day]:,} failed"
         + (f" ({100 * failures[day] / runs[day]:.1f} %)" if runs[day] else ""),
         task_list(status__exact="failed", **day_filters(day)))
        for day in days
    ], tone="danger")  # fmt: skip
    stages = []
    for task_type in TaskType.objects.filter(pk__in={key[0] for key in hists}).order_by("slug"):
        p50s, p95s = [], []
        for day in days:
            merged = hist_merge(hists.get((task_type.pk, day), []))
            cap = highest.get((task_type.pk, day)) or None
            p50s.append(hist_percentile(merged, 0.5, max_ms=cap))
            p95s.append(hist_percentile(merged, 0.95, max_ms=cap))
        link = task_list(task_type__id__exact=task_type.pk)
        recent = next((value for value in reversed(p95s) if value is not None), None)
        stages.append({
            "slug": task_type.slug, "url": link, "p95_now": seconds_text(recent),
            "p50_now": seconds_text(next((value for value in reversed(p50s) if value is not None), None)),
            "bars": bars([(f"{day:%d %b}", (p95 or 0) / 1000,
                           f"{day:%a %d %b}: p50 {seconds_text(p50)}, p95 {seconds_text(p95)}",
                           task_list(task_type__id__exact=task_type.pk, **day_filters(day)))
                          for day, p50, p95 in zip(days, p50s, p95s, strict=True)], width=260),
        })  # fmt: skip
    return {"days": days, "throughput": throughput, "failure_rate": failure_rate, "stages": stages,
            "runs_total": sum(runs.values()), "failures_total": sum(failures.values())}  # fmt: skip


def seconds_text(milliseconds: float | None) -> str:
    if milliseconds is None:
        return "–"
    seconds = milliseconds / 1000
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.0f} min"


def money_by_pair(today: date) -> dict:
    """Cost against income and margin per model x type over ROI_DAYS days: the ROI page's own rollup read."""
    since = today - timedelta(days=ROI_DAYS - 1)
    report = roi_by_model_and_type(since=since, until=today + timedelta(days=1), currency=settings.INCOME_CURRENCY)
    roi = reverse("admin:income_incomeevent_roi")
    rows = sorted(report.rows, key=lambda row: row.net)
    top = max([max(row.cost, row.income_net, abs(row.net)) for row in rows] or [1]) or 1
    type_ids = dict(TaskType.objects.values_list("slug", "pk"))
    ledger = reverse("admin:income_incomeevent_changelist")
    return {
        "currency": settings.INCOME_CURRENCY.upper(),
        "url": f"{roi}?{urlencode({'since': since.isoformat(), 'until': today.isoformat()})}",
        "rows": [{"row": row, "cost_width": float(100 * row.cost / top),
                  "income_width": float(100 * row.income_net / top),
                  "url": f"{ledger}?" + urlencode({key: value for key, value in (
                      ("ai_model__name__exact", row.ai_model), ("task_type__id__exact", type_ids.get(row.task_type)))
                      if value is not None})}
                 for row in rows],
        "total": report.total,
    }  # fmt: skip


def lead_times() -> list[dict]:
    """Median and p90 per stage over the last LEAD_TIME_MONTHS months, per category (weighted by proposals)."""
    since = (timezone.now() - timedelta(days=31 * LEAD_TIME_MONTHS)).date().replace(day=1)
    table: dict[str, dict[str, LeadTime]] = defaultdict(dict)
    for row in LeadTime.objects.filter(month__gte=since).order_by("month"):
        table[row.category][row.stage] = row  # the latest month per stage and category
    return [
        {"category": category,
         "stages": [(label, table[category].get(stage)) for stage, label in LeadTime.Stage.choices]}
        for category in sorted(table)
    ]


def blind_spots() -> dict:
    open_findings = Finding.objects.filter(status=Finding.Status.OPEN)
    by_detector = list(open_findings.values("detector", "severity").annotate(n=Count("id")).order_by("-n")[:12])
    changelist = reverse("admin:metrics_finding_changelist")
    for line in by_detector:
        line["url"] = f"{changelist}?{urlencode({'detector': line['detector'], 'status__exact': 'open'})}"
    alerts = list(Alert.objects.filter(status=Alert.Status.OPEN).select_related("rule", "task_type")[:8])
    return {"by_detector": by_detector, "findings_url": f"{changelist}?status__exact=open", "alerts": alerts,
            "alerts_url": reverse("admin:metrics_alert_changelist") + "?status__exact=open"}  # fmt: skip


def dashboard_callback(request, context: dict) -> dict:
    user = request.user
    today = timezone.now().date()
    sections: dict = {}
    if user.has_perm("execution.view_executiontask"):
        sections["status_now"] = status_now()
        sections["series"] = daily_series(today)
    if user.has_perm("income.view_incomeevent"):
        sections["money"] = money_by_pair(today)
    if user.has_perm("proposals.view_proposal"):
        sections["lead_times"] = lead_times()
        sections["lead_times_url"] = reverse("admin:metrics_leadtime_changelist")
    if user.has_perm("metrics.view_finding"):
        sections["blind_spots"] = blind_spots()
    if user.has_perm("execution.review_executiontask"):
        length = review_queue_length()
        sections["review_backlog"] = {"count": length, "url": reverse("admin:safety_reviewqueuetask_changelist")}
    if user.has_perm("execution.view_executiontask"):
        sections["control"] = execution_control()
        sections["holds"] = list(ScopedHold.objects.select_related("task_type").order_by("created_at")[:20])
    context.update(sections)
    context["dashboard"] = bool(sections)
    context["title"] = "Operations dashboard"
    context["chart_height"] = CHART_HEIGHT
    return context
