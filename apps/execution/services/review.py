"""The review gate: tasks that need review run only after a reviewer who did not create them approves."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction

from ..models import ExecutionEvent, ExecutionTask
from .queueing import tasks_queue
from .transitions import task_transition

REVIEW_PERMISSION = "execution.review_executiontask"
Status = ExecutionTask.Status


def _reviewer_check(*, task: ExecutionTask, reviewer) -> None:
    if not reviewer.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied(f"{reviewer} is not a reviewer (Reviewers group)")
    if task.created_by_id is not None and task.created_by_id == reviewer.pk:
        raise PermissionDenied(f"{reviewer} created task {task.pk} and cannot approve or reject it")


@transaction.atomic
def task_approve(*, task: ExecutionTask, reviewer, comment: str = "") -> ExecutionTask:
    """Record who approved and when (an `approved` event), then queue the task."""
    _reviewer_check(task=task, reviewer=reviewer)
    task_transition(
        task, to=Status.PENDING, event=ExecutionEvent.Kind.APPROVED, sources=[Status.NEEDS_REVIEW], actor=reviewer,
        message=comment, refresh=False,
    )  # fmt: skip
    tasks_queue(task_ids=[task.pk], from_status=Status.PENDING, actor=reviewer)
    task.refresh_from_db()
    return task


@transaction.atomic
def task_reject(*, task: ExecutionTask, reviewer, comment: str = "") -> ExecutionTask:
    """Cancel a task that needs review, with the reviewer's reason."""
    _reviewer_check(task=task, reviewer=reviewer)
    return task_transition(
        task, to=Status.CANCELLED, event=ExecutionEvent.Kind.REJECTED, sources=[Status.NEEDS_REVIEW], actor=reviewer,
        message=comment,
    )  # fmt: skip
