"""The sweep: orchestration over the use cases that puts every task back on track, run periodically."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from ..models import ExecutionTask
from .bulk import bulk_operations_resume
from .control import execution_paused
from .queueing import jobs_push, queued_tasks_without_live_job, tasks_queue
from .running import tasks_recover_lost

Status = ExecutionTask.Status


def tasks_sweep() -> dict[str, int]:
    """Put every task back on track: enqueue pending ones, re-push queued ones that lost their job, and
    settle running ones whose worker died. Safe to run any number of times, from anywhere."""
    pending = ExecutionTask.objects.filter(status=Status.PENDING).order_by("-priority", "created_at")
    pending_ids = list(pending.values_list("pk", flat=True)[: settings.EXECUTION_SWEEP_BATCH])
    tasks_queue(task_ids=pending_ids, from_status=Status.PENDING, message="enqueued by the sweeper")
    # Counted after the commit: a push Redis refused has put its tasks back to pending.
    report = {"enqueued": ExecutionTask.objects.filter(pk__in=pending_ids, status=Status.QUEUED).count(), "repushed": 0}
    if not execution_paused():
        orphans = queued_tasks_without_live_job(older_than=timedelta(seconds=settings.EXECUTION_ORPHAN_AGE_SECONDS))
        report["repushed"] = jobs_push(task_ids=orphans)
    report["recovered"] = tasks_recover_lost()
    report["bulk_resumed"] = bulk_operations_resume()
    return report
