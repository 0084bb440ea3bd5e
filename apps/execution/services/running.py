"""Running a task on a worker: claim it, call its executor, record what happened, retry or fail.

The three steps are separate so that the production worker (`apps.execution.worker.TaskWorker`) can claim and
record in its long-lived process, on a warm database connection, while only `task_run` (which never touches
the database) runs in the forked work horse. `task_execute` does all three in one process (SimpleWorker).
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone

from ..executors import ExecutorError, ExecutorOutput, executor_run
from ..models import AIModel, ExecutionEvent, ExecutionTask
from .queueing import jobs_push
from .transitions import task_claim_transition, tasks_transition

logger = logging.getLogger(__name__)
Status = ExecutionTask.Status
Kind = ExecutionEvent.Kind
MILLION = Decimal(1_000_000)
# A record that fails because the database is away is tried again for this long: giving up leaves the task
# `running` until the sweep retries it, which repeats a model call that already ran.
RECORD_PATIENCE_SECONDS = 60


@dataclass(frozen=True)
class RunOutcome:
    """What an executor run produced: its output, or the error (with whether a retry could help)."""

    duration_ms: int | None
    output: ExecutorOutput | None = None
    error: str = ""
    retry: bool = True


def task_cost(*, ai_model: AIModel, input_tokens: int | None, output_tokens: int | None) -> Decimal | None:
    """Cost in the price currency, or None (unknown, never zero) when a price or a token count is missing."""
    prices = (ai_model.input_price_per_million, ai_model.output_price_per_million)
    if None in prices or input_tokens is None or output_tokens is None:
        return None
    return (input_tokens * prices[0] + output_tokens * prices[1]) / MILLION


def task_claim(*, task_id: int) -> ExecutionTask | None:
    """Take a queued task for this worker: one statement moves it to running (if it is not cancelled and
    execution is not paused), records the `started` event and returns it with its type and AI model. None if
    another worker got it first, it was cancelled or finished meanwhile, or execution is paused (it then stays
    queued until resumed)."""
    task = task_claim_transition(task_id, now=timezone.now())
    if task is None:
        logger.info("task %s not claimed (taken, finished, cancelled, or execution paused)", task_id)
    return task


def task_run(task: ExecutionTask) -> RunOutcome:
    """Call the executor of a claimed task. Never touches the database, so it can run in a forked process."""
    started = time.perf_counter()
    try:
        output = executor_run(task)
    except Exception as error:
        return RunOutcome(
            duration_ms=int((time.perf_counter() - started) * 1000),
            error=traceback.format_exc(),
            retry=not isinstance(error, ExecutorError),
        )
    return RunOutcome(duration_ms=int((time.perf_counter() - started) * 1000), output=output)


def task_record(task: ExecutionTask, outcome: RunOutcome) -> str:
    """Record a run's outcome (success, retry or failure), riding out a database outage of up to
    RECORD_PATIENCE_SECONDS: the model call already happened and should not happen again."""
    deadline = time.monotonic() + RECORD_PATIENCE_SECONDS
    while True:
        try:
            if outcome.output is not None:
                return task_record_success(task=task, output=outcome.output, duration_ms=outcome.duration_ms)
            return task_record_failure(
                task=task, error=outcome.error, duration_ms=outcome.duration_ms, retry=outcome.retry
            )
        except (OperationalError, InterfaceError) as error:
            if time.monotonic() > deadline:
                raise
            logger.warning("task %s: recording its outcome failed (%s); trying again in 1 s", task.pk, error)
            time.sleep(1)
            close_old_connections()  # a connection the outage broke is dropped; the next query opens a new one


def task_execute(*, task_id: int) -> str:
    """Run one queued task end to end in this process; returns what became of it."""
    task = task_claim(task_id=task_id)
    if task is None:
        return "not claimed"
    return task_record(task, task_run(task))


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
