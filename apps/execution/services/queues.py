"""What the queue page shows operators: every queue's depth and registries, the workers, the cron scheduler and
the latest failed jobs; and the two things an operator does with a failed job. Task jobs are the engine's: the
sweep retries or fails their tasks, so the page offers neither action on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import django_rq
from django.conf import settings
from rq import Queue, Worker
from rq.cron import CronScheduler
from rq.job import Job
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

from ..models import error_summary

FAILED_SHOWN = 50


@dataclass(frozen=True)
class QueueDepth:
    name: str
    queued: int
    started: int
    scheduled: int
    deferred: int
    finished: int
    failed: int


@dataclass(frozen=True)
class WorkerState:
    name: str
    state: str
    queues: str
    current_job: str
    last_heartbeat: datetime | None
    succeeded: int
    failed: int
    pid: int | None


@dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    function: str
    ended_at: datetime | None
    error: str
    is_task_job: bool


@dataclass(frozen=True)
class QueuesOverview:
    queues: list[QueueDepth]
    workers: list[WorkerState]
    schedulers: list[str]
    failed: list[FailedJob]


def _queues() -> list[Queue]:
    return [django_rq.get_queue(name) for name in settings.RQ_QUEUES]


def queues_overview() -> QueuesOverview:
    """One look at Redis (raises RedisError when it is away; the page says so)."""
    queues = _queues()
    connection = queues[0].connection
    depths = [
        QueueDepth(
            name=queue.name, queued=queue.count, started=StartedJobRegistry(queue=queue).count,
            scheduled=ScheduledJobRegistry(queue=queue).count, deferred=DeferredJobRegistry(queue=queue).count,
            finished=FinishedJobRegistry(queue=queue).count, failed=FailedJobRegistry(queue=queue).count,
        )
        for queue in queues
    ]  # fmt: skip
    workers = [
        WorkerState(
            name=worker.name, state=str(worker.get_state()), queues=", ".join(worker.queue_names()),
            current_job=worker.get_current_job_id() or "", last_heartbeat=worker.last_heartbeat,
            succeeded=worker.successful_job_count, failed=worker.failed_job_count, pid=worker.pid,
        )
        for worker in sorted(Worker.all(connection=connection), key=lambda worker: worker.name)
    ]  # fmt: skip
    failed: list[FailedJob] = []
    for queue in queues:
        ids = FailedJobRegistry(queue=queue).get_job_ids(0, FAILED_SHOWN - 1)
        for job in Job.fetch_many(ids, connection=connection):
            if job is None:
                continue
            result = job.latest_result()
            failed.append(FailedJob(
                id=job.id, queue=queue.name, function=job.func_name, ended_at=job.ended_at,
                error=error_summary(result.exc_string or "") if result else "", is_task_job=job.id.startswith("task-"),
            ))  # fmt: skip
    failed.sort(key=lambda job: job.ended_at or datetime.min, reverse=True)
    schedulers = [scheduler.name for scheduler in CronScheduler.all(connection)]
    return QueuesOverview(queues=depths, workers=workers, schedulers=schedulers, failed=failed[:FAILED_SHOWN])


def failed_job_requeue(job_id: str) -> None:
    """Put a failed job (not a task's: the sweep owns those) back on its queue."""
    _failed_job(job_id).requeue()


def failed_job_delete(job_id: str) -> None:
    """Drop a failed job (not a task's) and its record."""
    job = _failed_job(job_id)
    FailedJobRegistry(queue=Queue(job.origin, connection=job.connection)).remove(job_id)
    job.delete()


def _failed_job(job_id: str) -> Job:
    if job_id.startswith("task-"):
        raise ValueError(f"{job_id} is a task's job: the sweep retries or fails its task")
    for queue in _queues():
        if job_id in FailedJobRegistry(queue=queue).get_job_ids():
            return Job.fetch(job_id, connection=queue.connection)
    raise ValueError(f"{job_id} is not in a failed job registry (retried or deleted meanwhile?)")
