"""Cancelling tasks that have not finished."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ..models import ExecutionEvent, ExecutionTask
from .rqjobs import job_remove
from .transitions import TaskStateError, event_record, task_transition

Status = ExecutionTask.Status
WAITING = (Status.PENDING, Status.NEEDS_REVIEW, Status.QUEUED)


@transaction.atomic
def task_cancel(*, task: ExecutionTask, actor=None) -> ExecutionTask:
    """Cancel a task that has not finished: a waiting one at once (its job leaves the queue), a running one
    at its next safe point."""
    task = ExecutionTask.objects.select_for_update().get(pk=task.pk)
    if task.status == Status.RUNNING:
        ExecutionTask.objects.filter(pk=task.pk).update(cancel_requested=True)
        event_record(task=task, kind=ExecutionEvent.Kind.CANCELLED, actor=actor, message="cancellation requested")
    elif task.status in WAITING:
        job_id = task.rq_job_id
        task_transition(
            task, to=Status.CANCELLED, event=ExecutionEvent.Kind.CANCELLED, sources=WAITING, actor=actor,
            changes={"finished_at": timezone.now()},
        )  # fmt: skip
        if job_id:
            transaction.on_commit(lambda: job_remove(job_id))
    else:
        raise TaskStateError(f"task {task.pk} is {task.status}: nothing to cancel")
    task.refresh_from_db()
    return task
