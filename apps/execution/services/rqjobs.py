"""RQ job plumbing: job ids, pushing, removing and reading jobs. Redis only carries jobs that point at task rows;
nothing here changes a task (callers decide what a Redis error means for their tasks)."""

from __future__ import annotations

import logging
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat
from redis import RedisError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.scheduler import RQScheduler

logger = logging.getLogger(__name__)

QUEUE_NAME = "default"
RUN_JOB = "apps.execution.jobs.run_execution"
BULK_JOB = "apps.execution.jobs.run_bulk_operation"
LIVE_JOB_STATUSES = frozenset({"queued", "started", "scheduled", "deferred"})
REDIS_ERRORS = (RedisError, OSError)


def execution_queue():
    return django_rq.get_queue(QUEUE_NAME)


def next_job_id():
    """`task-<id>-<attempt>`: one RQ job per attempt, so a retried job never collides with the last one."""
    return Concat(Value("task-"), Cast("id", CharField()), Value("-"), Cast(F("attempts") + 1, CharField()))


def run_jobs_enqueue(jobs: list[tuple[int, str, int, int]], *, delay_seconds: float = 0) -> None:
    """Put `(task id, job id, priority, timeout)` jobs on the queue in one pipeline; raises on a Redis error.
    Delayed jobs wait in RQ's scheduled registry until the sweep (or a worker's scheduler) enqueues them."""
    queue = execution_queue()
    if delay_seconds > 0:
        for task_id, job_id, _priority, timeout in jobs:
            queue.enqueue_in(
                timedelta(seconds=delay_seconds), RUN_JOB, task_id, job_id=job_id, job_timeout=timeout,
                result_ttl=settings.EXECUTION_RESULT_TTL_SECONDS,
            )  # fmt: skip
        return
    with queue.connection.pipeline() as pipeline:
        queue.enqueue_many(
            [
                queue.prepare_data(
                    RUN_JOB,
                    args=(task_id,),
                    job_id=job_id,
                    timeout=timeout,
                    at_front=priority > 0,
                    result_ttl=settings.EXECUTION_RESULT_TTL_SECONDS,
                )  # fmt: skip
                for task_id, job_id, priority, timeout in jobs
            ],
            pipeline=pipeline,
        )
        pipeline.execute()


def bulk_job_enqueue(*, operation_id: int, job_id: str) -> None:
    execution_queue().enqueue(BULK_JOB, operation_id, job_id=job_id, job_timeout=3600, result_ttl=3600)


def job_remove(job_id: str) -> None:
    """Best effort: a job left behind finds its task cancelled and does nothing."""
    queue = execution_queue()
    try:
        queue.remove(job_id)
        queue.scheduled_job_registry.remove(job_id)
    except REDIS_ERRORS:
        logger.warning("could not remove job %s from the queue", job_id, exc_info=True)


def job_statuses(job_ids: list[str]) -> list[str | None]:
    """RQ's status of each job (None: Redis has no such job), in one round trip."""
    if not job_ids:
        return []
    connection = execution_queue().connection
    with connection.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            pipeline.hget(f"rq:job:{job_id}", "status")
        return [status.decode() if status else None for status in pipeline.execute()]


def scheduled_jobs_enqueue_due() -> int:
    """Move jobs whose time has come (retries after backoff) from RQ's scheduled registry to the queue.

    Workers run without RQ's in-worker scheduler, whose lock outlives a killed holder by a minute and whose
    successor is picked only in a ten-minute maintenance cycle; the sweep calls this every interval instead.
    RQ's lock still keeps two sweeps from enqueueing the same job twice."""
    queue = execution_queue()
    registry = queue.scheduled_job_registry
    due = len(registry.get_jobs_to_schedule())
    if not due:
        return 0
    scheduler = RQScheduler([queue], connection=queue.connection)
    if not scheduler.acquire_locks():
        return 0  # another sweep is at it
    try:
        scheduler.enqueue_scheduled_jobs()
    finally:
        scheduler.release_locks()
    return due


def failed_run_job_ids() -> list[str]:
    """Task jobs in RQ's failed registry (a work horse that died, a job that raised while PostgreSQL was away)."""
    registry = FailedJobRegistry(queue=execution_queue())
    return [job_id for job_id in registry.get_job_ids() if job_id.startswith("task-")]


def failed_jobs_remove(job_ids: list[str]) -> None:
    """Out of the failed registry and gone, in one round trip. (RQ 3's `registry.remove(delete_job=True)` cannot
    run in a pipeline: it fetches the job through it.)"""
    registry = FailedJobRegistry(queue=execution_queue())
    with registry.connection.pipeline() as pipeline:
        for job_id in job_ids:
            registry.remove(job_id, pipeline=pipeline)
            pipeline.delete(Job.key_for(job_id))
        pipeline.execute()
