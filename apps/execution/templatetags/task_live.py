"""The counts by status above the task list (each capped, for big tables)."""

from django import template

from ..models import ExecutionTask
from ..services import LIVE_STATUSES, STATUS_COUNT_CAP, task_status_counts

register = template.Library()


@register.inclusion_tag("admin/execution/executiontask/status_counts.html", takes_context=True)
def task_status_counts_bar(context, cl):
    counts = task_status_counts(cl.queryset)
    query = cl.get_query_string(remove=["status", "status__exact", "p"])
    return {
        "statuses": [
            {"value": status, "label": label, "count": counts[status], "capped": counts[status] > STATUS_COUNT_CAP,
             "link": f"{query}&status__exact={status}" if query != "?" else f"?status__exact={status}"}
            for status, label in ExecutionTask.Status.choices
        ],  # fmt: skip
        "cap": STATUS_COUNT_CAP,
        "live": any(counts[status] for status in LIVE_STATUSES),
        "request": context.get("request"),
    }
