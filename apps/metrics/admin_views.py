"""Custom admin pages and page parts of the metrics app: an alert's last 24 hours against its baseline, and the
slowest proposals."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.template.response import TemplateResponse

from .models import Alert, SlowProposal

CHART_WIDTH, CHART_HEIGHT = 720, 140


def alert_chart(alert: Alert) -> str:
    """The metric hour by hour (bars), its baseline median and its limit (lines), as inline SVG."""
    points = [(hour, value, median, limit) for hour, value, median, limit in alert.series]
    numbers = [number for _, *figures in points for number in figures if number is not None]
    top = max(numbers + [alert.value, 1e-9])
    bottom = min(numbers + [0.0])
    span = (top - bottom) or 1
    step = CHART_WIDTH / max(len(points), 1)

    def y(number):
        return CHART_HEIGHT - CHART_HEIGHT * (number - bottom) / span

    bars = [
        {"x": index * step + 1, "y": y(value), "width": max(step - 2, 1), "height": CHART_HEIGHT - y(value),
         "beyond": limit is not None and (value > limit if alert.limit >= (median or 0) else value < limit),
         "text": f"{hour[:13]}h: {value:.4g}" + (f" (baseline {median:.4g}, limit {limit:.4g})" if median is not None
                                                 and limit is not None else "")}
        for index, (hour, value, median, limit) in enumerate(points) if value is not None
    ]  # fmt: skip

    def line(column):
        return " ".join(f"{index * step + step / 2:.1f},{y(point[column]):.1f}"
                        for index, point in enumerate(points) if point[column] is not None)  # fmt: skip

    return render_to_string("admin/metrics/alert_chart.html", {
        "bars": bars, "median_line": line(2), "limit_line": line(3), "width": CHART_WIDTH, "height": CHART_HEIGHT,
        "first": points[0][0][:13] if points else "", "last": points[-1][0][:13] if points else "",
    })  # fmt: skip


def slowest_by_stage() -> dict[str, list[SlowProposal]]:
    stages: dict[str, list[SlowProposal]] = {}
    for row in SlowProposal.objects.select_related("proposal").order_by("stage", "rank"):
        stages.setdefault(row.stage, []).append(row)
    return stages


def lead_times_page(model_admin, request):
    context = {
        **model_admin.admin_site.each_context(request), "title": "Slowest proposals", "opts": model_admin.opts,
        "slowest": slowest_by_stage(),
    }  # fmt: skip
    return TemplateResponse(request, "admin/metrics/slowest.html", context)
