"""The review gate: tasks that need review run only after a reviewer who did not create them approves. Every
decision and assignment is written to the audit log in the same transaction."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from apps.auditlog.services import audit_record

from ..models import ExecutionEvent, ExecutionTask, RiskLevel
from .queueing import tasks_queue
from .transitions import task_transition

REVIEW_PERMISSION = "execution.review_executiontask"
Status = ExecutionTask.Status


def _reviewer_check(*, task: ExecutionTask, reviewer) -> None:
    if not reviewer.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied(f"{reviewer} is not a reviewer (Reviewers group)")
    if task.created_by_id is not None and task.created_by_id == reviewer.pk:
        raise PermissionDenied(f"{reviewer} created task {task.pk} and cannot approve or reject it")


BULK_APPROVABLE_LEVELS = frozenset({RiskLevel.LOW, RiskLevel.MEDIUM})


def _decision_audit(task: ExecutionTask, *, action: str, reviewer, comment: str, bulk: bool) -> None:
    audit_record(
        action=action, actor=reviewer, target=task, summary=comment,
        details={"risk_score": task.risk_score, "risk_level": task.risk_level, "bulk": bulk,
                 "created_by": task.created_by_id},
    )  # fmt: skip


@transaction.atomic
def task_approve(*, task: ExecutionTask, reviewer, comment: str = "", bulk: bool = False) -> ExecutionTask:
    """Record who approved and when (an `approved` event and an audit row), then queue the task. In a bulk
    approval only low and medium risk tasks pass: a high or critical one is approved on its own."""
    _reviewer_check(task=task, reviewer=reviewer)
    if bulk and task.risk_level not in BULK_APPROVABLE_LEVELS:
        raise PermissionDenied(f"task {task.pk} is {task.risk_level} risk: approve it on its own, not in bulk")
    task_transition(
        task, to=Status.PENDING, event=ExecutionEvent.Kind.APPROVED, sources=[Status.NEEDS_REVIEW], actor=reviewer,
        message=comment, refresh=False, changes={"review_assignee": None},
    )  # fmt: skip
    _decision_audit(task, action="task.approved", reviewer=reviewer, comment=comment, bulk=bulk)
    tasks_queue(task_ids=[task.pk], from_status=Status.PENDING, actor=reviewer)
    task.refresh_from_db()
    return task


@transaction.atomic
def task_reject(*, task: ExecutionTask, reviewer, comment: str = "", bulk: bool = False) -> ExecutionTask:
    """Cancel a task that needs review, with the reviewer's reason (required)."""
    _reviewer_check(task=task, reviewer=reviewer)
    if not (comment or "").strip():
        raise ValidationError({"comment": "Say why: a reason is required to reject a task."})
    task = task_transition(
        task, to=Status.CANCELLED, event=ExecutionEvent.Kind.REJECTED, sources=[Status.NEEDS_REVIEW], actor=reviewer,
        message=comment, changes={"review_assignee": None},
    )  # fmt: skip
    _decision_audit(task, action="task.rejected", reviewer=reviewer, comment=comment, bulk=bulk)
    return task


@transaction.atomic
def task_review_assign(*, task: ExecutionTask, assignee, actor) -> ExecutionTask:
    """Give a waiting task to a reviewer (`assignee` = the actor: a claim; None: back to the pool)."""
    if not actor.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied(f"{actor} is not a reviewer (Reviewers group)")
    if assignee is not None and not assignee.has_perm(REVIEW_PERMISSION):
        raise ValidationError({"assignee": f"{assignee} is not a reviewer (Reviewers group)"})
    moved = ExecutionTask.objects.filter(pk=task.pk, status=Status.NEEDS_REVIEW).update(review_assignee=assignee)
    if not moved:
        raise ValidationError(f"task {task.pk} no longer awaits review")
    who = "nobody" if assignee is None else assignee.get_username()
    audit_record(action="task.review_assigned", actor=actor, target=task, summary=f"assigned to {who}",
                 details={"assignee": assignee.pk if assignee else None})  # fmt: skip
    task.refresh_from_db()
    return task
