"""The review gate: tasks that need review run only after a reviewer who did not create them approves."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction

from ..models import ExecutionEvent, ExecutionTask
from .queueing import tasks_queue
from .tasks import event_record, task_transition

REVIEW_PERMISSION = "execution.review_executiontask"


def _reviewer_check(*, task: ExecutionTask, reviewer) -> None:
    if not reviewer.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied(f"{reviewer} is not a reviewer (Reviewers group)")
    if task.created_by_id is not None and task.created_by_id == reviewer.pk:
        raise PermissionDenied(f"{reviewer} created task {task.pk} and cannot approve or reject it")


@transaction.atomic
def task_approve(*, task: ExecutionTask, reviewer, comment: str = "") -> ExecutionTask:
    """Record who approved and when (an `approved` event), then queue the task."""
    _reviewer_check(task=task, reviewer=reviewer)
    task_transition(task=task, to=ExecutionTask.Status.PENDING)
    event_record(task=task, kind=ExecutionEvent.Kind.APPROVED, actor=reviewer, message=comment)
    tasks_queue(task_ids=[task.pk], from_status=ExecutionTask.Status.PENDING, actor=reviewer)
    task.refresh_from_db()
    return task


@transaction.atomic
def task_reject(*, task: ExecutionTask, reviewer, comment: str = "") -> ExecutionTask:
    """Cancel a task that needs review, with the reviewer's reason."""
    _reviewer_check(task=task, reviewer=reviewer)
    task_transition(task=task, to=ExecutionTask.Status.CANCELLED)
    event_record(task=task, kind=ExecutionEvent.Kind.REJECTED, actor=reviewer, message=comment)
    return task
