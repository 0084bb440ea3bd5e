"""Running a task on a worker: claim it, call its executor, record what happened, retry or fail."""

from __future__ import annotations

import logging
import time
import traceback
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, Q
from django.utils import timezone

from ..executors import ExecutorError, ExecutorOutput, executor_run
from ..models import AIModel, ExecutionEvent, ExecutionTask
from .queueing import jobs_push
from .selectors import paused_switch
from .transitions import tasks_transition

logger = logging.getLogger(__name__)
Status = ExecutionTask.Status
Kind = ExecutionEvent.Kind
MILLION = Decimal(1_000_000)


def task_cost(*, ai_model: AIModel, input_tokens: int | None, output_tokens: int | None) -> Decimal | None:
    """Cost in the price currency, or None (unknown, never zero) when a price or a token count is missing."""
    prices = (ai_model.input_price_per_million, ai_model.output_price_per_million)
    if None in prices or input_tokens is None or output_tokens is None:
        return None
    return (input_tokens * prices[0] + output_tokens * prices[1]) / MILLION


def task_claim(*, task_id: int) -> ExecutionTask | None:
    """Take a queued task for this worker: one statement moves it to running (if it is not cancelled and
    execution is not paused) and records the `started` event. None if another worker got it first, it was
    cancelled or finished meanwhile, or execution is paused (it then stays queued until resumed)."""
    moved = tasks_transition(
        [task_id], to=Status.RUNNING, event=Kind.STARTED, sources=[Status.QUEUED], message="attempt {attempts}",
        where=Q(cancel_requested=False) & ~Exists(paused_switch()),
        changes={"started_at": timezone.now(), "finished_at": None, "attempts": F("attempts") + 1},
    )  # fmt: skip
    if not moved:
        logger.info("task %s not claimed (taken, finished, cancelled, or execution paused)", task_id)
        return None
    return ExecutionTask.objects.select_related("task_type", "ai_model").get(pk=task_id)


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


def _cancel_if_requested(task: ExecutionTask, duration_ms: int | None) -> bool:
    """The safe point: a cancellation asked for while the task ran takes effect here."""
    moved = tasks_transition(
        [task.pk], to=Status.CANCELLED, event=Kind.CANCELLED, sources=[Status.RUNNING], where=Q(cancel_requested=True),
        message="stopped at a safe point", duration_ms=duration_ms,
        changes={"finished_at": timezone.now(), "duration_ms": duration_ms},
    )  # fmt: skip
    return bool(moved)


def task_record_success(*, task: ExecutionTask, output: ExecutorOutput, duration_ms: int) -> str:
    """Store result, usage, cost and duration with a `completed` event: one statement, unless a cancellation
    was asked for meanwhile."""
    cost = task_cost(ai_model=task.ai_model, input_tokens=output.input_tokens, output_tokens=output.output_tokens)
    usage = f"{output.input_tokens} in / {output.output_tokens} out tokens, cost {'unknown' if cost is None else cost}"
    moved = tasks_transition(
        [task.pk], to=Status.SUCCEEDED, event=Kind.COMPLETED, sources=[Status.RUNNING], where=Q(cancel_requested=False),
        message=usage, duration_ms=duration_ms,
        changes={
            "result": output.result, "input_tokens": output.input_tokens, "output_tokens": output.output_tokens,
            "cost": cost, "finished_at": timezone.now(), "duration_ms": duration_ms, "error": "",
        },
    )  # fmt: skip
    if moved:
        return "succeeded"
    return _settled_otherwise(task, duration_ms)


def _settled_otherwise(task: ExecutionTask, duration_ms: int | None) -> str:
    if _cancel_if_requested(task, duration_ms):
        return "cancelled"
    current = ExecutionTask.objects.filter(pk=task.pk).values_list("status", flat=True).first()
    return f"already {current}"


def retry_delay_seconds(attempt: int) -> float:
    base = settings.EXECUTION_RETRY_BACKOFF_SECONDS
    return min(base * 2 ** (attempt - 1), settings.EXECUTION_RETRY_BACKOFF_MAX_SECONDS)


@transaction.atomic
def task_record_failure(*, task: ExecutionTask, error: str, duration_ms: int | None, retry: bool = True) -> str:
    """Retry with backoff while attempts remain (a `retried` event), else fail (a `failed` event)."""
    current = (
        ExecutionTask.objects.select_for_update()
        .filter(pk=task.pk)
        .values_list("status", "attempts", "cancel_requested", "task_type__max_attempts")
        .first()
    )
    if current is None or current[0] != Status.RUNNING:
        return f"already {current[0] if current else 'deleted'}"
    _status, attempts, cancel_requested, max_attempts = current
    if cancel_requested and _cancel_if_requested(task, duration_ms):
        return "cancelled"
    if retry and attempts < max_attempts:
        delay = retry_delay_seconds(attempts)
        tasks_transition(
            [task.pk], to=Status.QUEUED, event=Kind.RETRIED, sources=[Status.RUNNING], error=error,
            duration_ms=duration_ms,
            message=f"attempt {attempts} of {max_attempts} failed; retrying in {delay:g} s",
            changes={"error": error, "duration_ms": duration_ms, "queued_at": timezone.now(),
                     "rq_job_id": f"task-{task.pk}-{attempts + 1}"},
        )  # fmt: skip
        transaction.on_commit(lambda: jobs_push(task_ids=[task.pk], delay_seconds=delay))
        return "retrying"
    message = f"failed after {attempts} attempt(s)" if retry else "failed; not retried (the task cannot run as given)"
    tasks_transition(
        [task.pk], to=Status.FAILED, event=Kind.FAILED, sources=[Status.RUNNING], error=error, duration_ms=duration_ms,
        message=message, changes={"error": error, "duration_ms": duration_ms, "finished_at": timezone.now()},
    )  # fmt: skip
    return "failed"
