"""Running a task on a worker: claim it, call its executor, record what happened, retry or fail."""

from __future__ import annotations

import logging
import time
import traceback
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F
from django.utils import timezone

from ..executors import ExecutorError, ExecutorOutput, executor_run
from ..models import AIModel, ExecutionControl, ExecutionEvent, ExecutionTask
from .queueing import _job_statuses, jobs_push
from .tasks import TaskStateError, event_record, task_transition

logger = logging.getLogger(__name__)
Status = ExecutionTask.Status
MILLION = Decimal(1_000_000)


def task_cost(*, ai_model: AIModel, input_tokens: int | None, output_tokens: int | None) -> Decimal | None:
    """Cost in the price currency, or None (unknown, never zero) when a price or a token count is missing."""
    prices = (ai_model.input_price_per_million, ai_model.output_price_per_million)
    if None in prices or input_tokens is None or output_tokens is None:
        return None
    return (input_tokens * prices[0] + output_tokens * prices[1]) / MILLION


def task_claim(*, task_id: int) -> ExecutionTask | None:
    """Take a queued task for this worker: one conditional UPDATE that also checks the pause switch, and the
    `started` event, in one commit. None if another worker got it first, it was cancelled or finished
    meanwhile, or execution is paused (it then stays queued until resumed)."""
    paused = ExecutionControl.objects.filter(pk=ExecutionControl.SINGLETON_ID, paused=True)
    with transaction.atomic():
        claimed = (
            ExecutionTask.objects.filter(pk=task_id, status=Status.QUEUED, cancel_requested=False)
            .filter(~Exists(paused))
            .update(status=Status.RUNNING, started_at=timezone.now(), finished_at=None, attempts=F("attempts") + 1)
        )
        if not claimed:
            logger.info("task %s not claimed (taken, finished, cancelled, or execution paused)", task_id)
            return None
        task = ExecutionTask.objects.select_related("task_type", "ai_model").get(pk=task_id)
        event_record(task=task, kind=ExecutionEvent.Kind.STARTED, message=f"attempt {task.attempts}")
    return task


def task_execute(*, task_id: int) -> str:
    """Run one queued task end to end; returns what became of it."""
    task = task_claim(task_id=task_id)
    if task is None:
        return "not claimed"
    started = time.perf_counter()
    try:
        output = executor_run(task)
    except Exception as error:
        duration_ms = int((time.perf_counter() - started) * 1000)
        return task_record_failure(
            task=task, error=traceback.format_exc(), duration_ms=duration_ms, retry=not isinstance(error, ExecutorError)
        )
    return task_record_success(task=task, output=output, duration_ms=int((time.perf_counter() - started) * 1000))


def _stop_if_cancel_requested(task: ExecutionTask, duration_ms: int | None) -> bool:
    """The safe point: a cancellation asked for while the task ran takes effect here."""
    if not task.cancel_requested:
        return False
    task_transition(task=task, to=Status.CANCELLED, finished_at=timezone.now(), duration_ms=duration_ms)
    event_record(
        task=task, kind=ExecutionEvent.Kind.CANCELLED, message="stopped at a safe point", duration_ms=duration_ms
    )
    return True


@transaction.atomic
def task_record_success(*, task: ExecutionTask, output: ExecutorOutput, duration_ms: int) -> str:
    """Store result, usage, cost and duration with a `completed` event."""
    task = ExecutionTask.objects.select_for_update().select_related("ai_model").get(pk=task.pk)
    if task.status != Status.RUNNING:
        return f"already {task.status}"
    if _stop_if_cancel_requested(task, duration_ms):
        return "cancelled"
    cost = task_cost(ai_model=task.ai_model, input_tokens=output.input_tokens, output_tokens=output.output_tokens)
    task_transition(
        task=task,
        to=Status.SUCCEEDED,
        refresh=False,
        result=output.result,
        input_tokens=output.input_tokens,
        output_tokens=output.output_tokens,
        cost=cost,
        finished_at=timezone.now(),
        duration_ms=duration_ms,
        error="",
    )
    usage = f"{output.input_tokens} in / {output.output_tokens} out tokens, cost {'unknown' if cost is None else cost}"
    event_record(task=task, kind=ExecutionEvent.Kind.COMPLETED, message=usage, duration_ms=duration_ms)
    return "succeeded"


def retry_delay_seconds(attempt: int) -> float:
    base = settings.EXECUTION_RETRY_BACKOFF_SECONDS
    return min(base * 2 ** (attempt - 1), settings.EXECUTION_RETRY_BACKOFF_MAX_SECONDS)


@transaction.atomic
def task_record_failure(*, task: ExecutionTask, error: str, duration_ms: int | None, retry: bool = True) -> str:
    """Retry with backoff while attempts remain (a `retried` event), else fail (a `failed` event)."""
    task = ExecutionTask.objects.select_for_update().select_related("task_type").get(pk=task.pk)
    if task.status != Status.RUNNING:
        return f"already {task.status}"
    if _stop_if_cancel_requested(task, duration_ms):
        return "cancelled"
    attempts_left = task.task_type.max_attempts - task.attempts
    if retry and attempts_left > 0:
        delay = retry_delay_seconds(task.attempts)
        task_transition(
            task=task,
            to=Status.QUEUED,
            error=error,
            duration_ms=duration_ms,
            queued_at=timezone.now(),
            rq_job_id=f"task-{task.pk}-{task.attempts + 1}",
        )
        message = f"attempt {task.attempts} of {task.task_type.max_attempts} failed; retrying in {delay:g} s"
        event_record(task=task, kind=ExecutionEvent.Kind.RETRIED, message=message, error=error, duration_ms=duration_ms)
        transaction.on_commit(lambda: jobs_push(task_ids=[task.pk], delay_seconds=delay))
        return "retrying"
    task_transition(task=task, to=Status.FAILED, error=error, duration_ms=duration_ms, finished_at=timezone.now())
    message = (
        f"failed after {task.attempts} attempt(s)" if retry else "failed; not retried (the task cannot run as given)"
    )
    event_record(task=task, kind=ExecutionEvent.Kind.FAILED, message=message, error=error, duration_ms=duration_ms)
    return "failed"


def tasks_recover_lost() -> int:
    """Settle running tasks whose worker died (SIGKILL, OOM): their RQ job ended without a result, or they
    outlived their timeout plus the grace period. Each is retried or failed like any other failure."""
    running = list(ExecutionTask.objects.filter(status=Status.RUNNING).select_related("task_type"))
    if not running:
        return 0
    now = timezone.now()
    grace = timedelta(seconds=settings.EXECUTION_GRACE_SECONDS)
    recovered = 0
    for task, job_status in zip(running, _job_statuses([task.rq_job_id for task in running]), strict=True):
        overdue = task.started_at + timedelta(seconds=task.task_type.timeout_seconds) + grace < now
        if job_status == "started" and not overdue:
            continue
        why = "timeout plus grace period passed" if overdue else f"its RQ job is {job_status or 'gone'}"
        error = f"worker lost: task was running but {why} (worker killed or out of memory?)"
        try:
            task_record_failure(task=task, error=error, duration_ms=None)
            recovered += 1
        except TaskStateError:
            pass  # it finished while we looked
    return recovered
