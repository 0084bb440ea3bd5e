"""Getting tasks onto RQ: the database row is the truth, Redis only carries jobs that point at rows."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from redis import RedisError

from ..models import ExecutionEvent, ExecutionTask
from .tasks import TaskStateError, event_record, task_transition

logger = logging.getLogger(__name__)

QUEUE_NAME = "default"
RUN_JOB = "apps.execution.jobs.run_execution"
SWEEP_JOB = "apps.execution.jobs.sweep_executions"
SWEEPER_JOB_PREFIX = "execution-sweeper"
LIVE_JOB_STATUSES = {"queued", "started", "scheduled", "deferred"}
Status = ExecutionTask.Status


def execution_queue():
    return django_rq.get_queue(QUEUE_NAME)


def _next_job_id():
    """`task-<id>-<attempt>`: one RQ job per attempt, so a retried job never collides with the last one."""
    return Concat(Value("task-"), Cast("id", CharField()), Value("-"), Cast(F("attempts") + 1, CharField()))


def _events_bulk(task_rows: Iterable[tuple[int, str]], *, kind: str, actor=None, message: str = "", error: str = ""):
    ExecutionEvent.objects.bulk_create(
        ExecutionEvent(task_id=pk, ai_model=ai_model, kind=kind, actor=actor, message=message, error=error)
        for pk, ai_model in task_rows
    )


def tasks_queue(*, task_ids: Iterable[int], from_status: str, actor=None, message: str = "") -> int:
    """Move tasks from `from_status` to `queued` and push their jobs after commit, in one Redis round trip.

    Rows another transaction holds are skipped, never waited on; the count of tasks queued is returned."""
    kind = ExecutionEvent.Kind.RETRIED if from_status == Status.FAILED else ExecutionEvent.Kind.QUEUED
    with transaction.atomic():
        rows = list(
            ExecutionTask.objects.select_for_update(skip_locked=True)
            .filter(pk__in=list(task_ids), status=from_status)
            .values_list("pk", "ai_model")
        )
        ids = [pk for pk, _ in rows]
        if not ids:
            return 0
        ExecutionTask.objects.filter(pk__in=ids).update(
            status=Status.QUEUED, queued_at=timezone.now(), rq_job_id=_next_job_id(), cancel_requested=False
        )
        _events_bulk(rows, kind=kind, actor=actor, message=message)
        transaction.on_commit(lambda: jobs_push(task_ids=ids))
    return len(ids)


def task_enqueue(*, task: ExecutionTask, actor=None) -> ExecutionTask:
    """Queue one pending task (its job goes to Redis when the transaction commits)."""
    tasks_queue(task_ids=[task.pk], from_status=Status.PENDING, actor=actor)
    task.refresh_from_db()
    return task


def jobs_push(*, task_ids: list[int], delay_seconds: float = 0) -> int:
    """Put the RQ jobs of queued tasks on the queue in one pipeline; on a Redis error the tasks go back to
    `pending` with the reason, for the sweeper to enqueue once Redis answers again."""
    tasks = list(
        ExecutionTask.objects.filter(pk__in=task_ids, status=Status.QUEUED).values_list(
            "pk", "rq_job_id", "priority", "task_type__timeout_seconds"
        )
    )
    if not tasks:
        return 0
    queue = execution_queue()
    try:
        if delay_seconds > 0:  # retries after backoff: the worker's scheduler enqueues them when due
            for pk, job_id, _priority, timeout in tasks:
                queue.enqueue_in(timedelta(seconds=delay_seconds), RUN_JOB, pk, job_id=job_id, job_timeout=timeout)
        else:
            with queue.connection.pipeline() as pipeline:
                queue.enqueue_many(
                    [
                        queue.prepare_data(
                            RUN_JOB,
                            args=(pk,),
                            job_id=job_id,
                            timeout=timeout,
                            at_front=priority > 0,
                            result_ttl=settings.EXECUTION_RESULT_TTL_SECONDS,
                        )
                        for pk, job_id, priority, timeout in tasks
                    ],
                    pipeline=pipeline,
                )
                pipeline.execute()
    except (RedisError, OSError) as error:
        tasks_enqueue_failed(task_ids=[pk for pk, *_ in tasks], reason=f"{type(error).__name__}: {error}")
        return 0
    return len(tasks)


@transaction.atomic
def tasks_enqueue_failed(*, task_ids: list[int], reason: str) -> None:
    """Redis refused the jobs: back to `pending`, reason kept on the task and in its timeline."""
    logger.warning("enqueue failed for %d task(s): %s", len(task_ids), reason)
    queued = ExecutionTask.objects.select_for_update().filter(pk__in=task_ids, status=Status.QUEUED)
    rows = list(queued.values_list("pk", "ai_model"))
    queued.update(status=Status.PENDING, error=f"enqueue failed: {reason}", rq_job_id="")
    _events_bulk(rows, kind=ExecutionEvent.Kind.ENQUEUE_FAILED, error=reason)


def _job_statuses(job_ids: list[str]) -> list[str | None]:
    connection = execution_queue().connection
    with connection.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            pipeline.hget(f"rq:job:{job_id}", "status")
        return [status.decode() if status else None for status in pipeline.execute()]


def queued_tasks_without_live_job(*, older_than: timedelta) -> list[int]:
    """Queued tasks whose RQ job is gone, finished or failed (Redis lost it, or it ran while paused)."""
    cutoff = timezone.now() - older_than
    tasks = list(
        ExecutionTask.objects.filter(status=Status.QUEUED, queued_at__lt=cutoff).values_list("pk", "rq_job_id")[
            : settings.EXECUTION_SWEEP_BATCH
        ]
    )
    statuses = _job_statuses([job_id for _, job_id in tasks]) if tasks else []
    return [pk for (pk, _), status in zip(tasks, statuses, strict=True) if status not in LIVE_JOB_STATUSES]


def sweeper_schedule(*, delay_seconds: float | None = None) -> None:
    """Schedule the next sweep on the RQ scheduler (the worker runs with --with-scheduler)."""
    delay = settings.EXECUTION_SWEEP_INTERVAL_SECONDS if delay_seconds is None else delay_seconds
    job_id = f"{SWEEPER_JOB_PREFIX}-{timezone.now():%Y%m%d%H%M%S%f}"
    execution_queue().enqueue_in(timedelta(seconds=delay), SWEEP_JOB, job_id=job_id, result_ttl=600)


def sweeper_ensure_scheduled() -> None:
    """Start the sweeper chain unless a sweep is already waiting (called when a worker starts)."""
    queue = execution_queue()
    waiting = [*queue.scheduled_job_registry.get_job_ids(), *queue.get_job_ids()]
    if not any(job_id.startswith(SWEEPER_JOB_PREFIX) for job_id in waiting):
        sweeper_schedule(delay_seconds=1)


@transaction.atomic
def task_cancel(*, task: ExecutionTask, actor=None) -> ExecutionTask:
    """Cancel a task that has not finished: a waiting one at once (its job leaves the queue), a running one
    at its next safe point."""
    task = ExecutionTask.objects.select_for_update().get(pk=task.pk)
    if task.status == Status.RUNNING:
        ExecutionTask.objects.filter(pk=task.pk).update(cancel_requested=True)
        event_record(task=task, kind=ExecutionEvent.Kind.CANCELLED, actor=actor, message="cancellation requested")
    elif task.status in (Status.PENDING, Status.NEEDS_REVIEW, Status.QUEUED):
        job_id = task.rq_job_id
        task_transition(task=task, to=Status.CANCELLED, finished_at=timezone.now())
        event_record(task=task, kind=ExecutionEvent.Kind.CANCELLED, actor=actor)
        if job_id:
            transaction.on_commit(lambda: _job_remove(job_id))
    else:
        raise TaskStateError(f"task {task.pk} is {task.status}: nothing to cancel")
    task.refresh_from_db()
    return task


def _job_remove(job_id: str) -> None:
    """Best effort: a job left behind finds its task cancelled and does nothing."""
    queue = execution_queue()
    try:
        queue.remove(job_id)
        queue.scheduled_job_registry.remove(job_id)
    except (RedisError, OSError):
        logger.warning("could not remove job %s from the queue", job_id, exc_info=True)
