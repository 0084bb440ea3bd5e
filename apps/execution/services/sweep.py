"""The sweep: orchestration over the use cases that puts every task back on track, run by the cron scheduler."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ..models import ExecutionTask
from .bulk import bulk_operations_resume
from .queueing import jobs_push, tasks_queue
from .rqjobs import REDIS_ERRORS, failed_jobs_remove, failed_run_job_ids, job_statuses, scheduled_jobs_enqueue_due
from .running import task_record_failure
from .selectors import execution_paused, queued_tasks_without_live_job
from .transitions import TaskStateError

logger = logging.getLogger(__name__)
Status = ExecutionTask.Status
ENDED_UNRECORDED = frozenset({"failed", "stopped", "canceled", None})


def tasks_sweep() -> dict[str, int]:
    """Put every task back on track: enqueue pending ones and retries that are due, re-push queued ones that
    lost their job, settle running ones whose worker died, and drop failed-registry entries nobody needs.
    Safe to run any number of times, from anywhere."""
    pending = ExecutionTask.objects.filter(status=Status.PENDING).order_by("-priority", "created_at")
    pending_ids = list(pending.values_list("pk", flat=True)[: settings.EXECUTION_SWEEP_BATCH])
    tasks_queue(task_ids=pending_ids, from_status=Status.PENDING, message="enqueued by the sweeper")
    # Counted after the commit: a push Redis refused has put its tasks back to pending.
    report = {"enqueued": ExecutionTask.objects.filter(pk__in=pending_ids, status=Status.QUEUED).count(), "repushed": 0}
    report["retries_due"] = _unless_redis_is_away(scheduled_jobs_enqueue_due)
    if not execution_paused():
        orphans = queued_tasks_without_live_job(older_than=timedelta(seconds=settings.EXECUTION_ORPHAN_AGE_SECONDS))
        report["repushed"] = jobs_push(task_ids=orphans)
    report["recovered"] = tasks_recover_lost()
    report["bulk_resumed"] = bulk_operations_resume()
    report["failed_jobs_pruned"] = _unless_redis_is_away(failed_jobs_prune)
    return report


def _unless_redis_is_away(step) -> int:
    """Housekeeping of Redis's own registries waits for the next sweep while Redis does not answer."""
    try:
        return step()
    except REDIS_ERRORS as error:
        logger.warning("sweep: %s skipped, Redis unreachable: %s", step.__name__, error)
        return 0


def tasks_recover_lost() -> int:
    """Settle running tasks whose worker died (SIGKILL, OOM): their RQ job ended without a result, or they
    outlived their timeout plus the grace period. Each is retried or failed like any other failure."""
    running = list(ExecutionTask.objects.filter(status=Status.RUNNING).select_related("task_type"))
    if not running:
        return 0
    now = timezone.now()
    grace = timedelta(seconds=settings.EXECUTION_GRACE_SECONDS)
    recovered = 0
    for task, job_status in zip(running, job_statuses([task.rq_job_id for task in running]), strict=True):
        overdue = task.started_at + timedelta(seconds=task.task_type.timeout_seconds) + grace < now
        # Only a job that failed, was stopped or is gone says its run is over unrecorded. `finished`: its worker
        # is recording it; `queued`: a second copy of the job (the sweep re-pushed it) while one runs.
        if job_status not in ENDED_UNRECORDED and not overdue:
            continue
        why = "timeout plus grace period passed" if overdue else f"its RQ job is {job_status or 'gone'}"
        error = f"worker lost: task was running but {why} (worker killed or out of memory?)"
        try:
            task_record_failure(task=task, error=error, duration_ms=None)
            recovered += 1
        except TaskStateError:
            pass  # it finished while we looked
    return recovered


def failed_jobs_prune() -> int:
    """Drop failed-registry entries of task jobs that are no longer a task's current attempt, or whose task
    finished: the task's own row and timeline keep what happened."""
    job_ids = failed_run_job_ids()
    if not job_ids:
        return 0
    task_ids = {int(job_id.split("-")[1]) for job_id in job_ids}  # task-<id>-<attempt>
    current = dict(
        ExecutionTask.objects.filter(pk__in=task_ids, status__in=(Status.QUEUED, Status.RUNNING)).values_list(
            "rq_job_id", "pk"
        )
    )
    stale = [job_id for job_id in job_ids if job_id not in current]
    failed_jobs_remove(stale)
    return len(stale)
