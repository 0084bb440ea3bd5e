"""Getting tasks onto RQ: the database row is the truth, Redis only carries jobs that point at rows."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from ..models import ExecutionEvent, ExecutionTask
from .rqjobs import REDIS_ERRORS, next_job_id, run_jobs_enqueue
from .transitions import tasks_transition

logger = logging.getLogger(__name__)
Status = ExecutionTask.Status
Kind = ExecutionEvent.Kind


def tasks_queue(*, task_ids: Iterable[int], from_status: str, actor=None, message: str = "") -> int:
    """Move tasks from `from_status` to `queued` and push their jobs after commit, in one Redis round trip.

    Rows another transaction holds are skipped, never waited on; the count of tasks queued is returned.
    A `from_status` the state machine does not allow to queue (a finished task) raises TaskStateError."""
    kind = Kind.RETRIED if from_status == Status.FAILED else Kind.QUEUED
    with transaction.atomic():
        moved = tasks_transition(
            list(task_ids), to=Status.QUEUED, event=kind, sources=[from_status], skip_locked=True, actor=actor,
            message=message,
            changes={"queued_at": timezone.now(), "rq_job_id": next_job_id(), "cancel_requested": False},
        )  # fmt: skip
        if moved:
            ids = [task.id for task in moved]
            transaction.on_commit(lambda: jobs_push(task_ids=ids))
    return len(moved)


def task_enqueue(*, task: ExecutionTask, actor=None) -> ExecutionTask:
    """Queue one pending task (its job goes to Redis when the transaction commits)."""
    tasks_queue(task_ids=[task.pk], from_status=Status.PENDING, actor=actor)
    task.refresh_from_db()
    return task


def jobs_push(*, task_ids: list[int], delay_seconds: float = 0) -> int:
    """Put the RQ jobs of queued tasks on the queue in one pipeline; on a Redis error the tasks go back to
    `pending` with the reason, for the sweep to enqueue once Redis answers again."""
    jobs = list(
        ExecutionTask.objects.filter(pk__in=task_ids, status=Status.QUEUED).values_list(
            "pk", "rq_job_id", "priority", "task_type__timeout_seconds"
        )
    )
    if not jobs:
        return 0
    try:
        run_jobs_enqueue(jobs, delay_seconds=delay_seconds)
    except REDIS_ERRORS as error:
        tasks_enqueue_failed(task_ids=[task_id for task_id, *_ in jobs], reason=f"{type(error).__name__}: {error}")
        return 0
    return len(jobs)


def tasks_enqueue_failed(*, task_ids: list[int], reason: str) -> int:
    """Redis refused the jobs: back to `pending`, reason kept on the task and in its timeline."""
    logger.warning("enqueue failed for %d task(s): %s", len(task_ids), reason)
    moved = tasks_transition(
        task_ids, to=Status.PENDING, event=Kind.ENQUEUE_FAILED, sources=[Status.QUEUED], error=reason,
        changes={"error": f"enqueue failed: {reason}", "rq_job_id": ""},
    )  # fmt: skip
    return len(moved)
