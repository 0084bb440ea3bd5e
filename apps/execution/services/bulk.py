"""Bulk actions on tasks: the same services as one-by-one, applied in chunks; large sets run as an RQ job
whose progress is a row the admin shows (`BulkOperation`)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..models import BulkOperation, ExecutionTask
from .cancel import task_cancel
from .queueing import tasks_queue
from .review import REVIEW_PERMISSION, task_approve, task_reject
from .rqjobs import LIVE_JOB_STATUSES, REDIS_ERRORS, bulk_job_enqueue, job_statuses
from .transitions import TaskStateError, acting_user

logger = logging.getLogger(__name__)
Action = BulkOperation.Action
PROBLEMS_KEPT = 100


def bulk_operation_start(
    *, action: str, task_ids: list[int], actor, criteria: str = "", comment: str = ""
) -> BulkOperation:
    """Record a bulk action and run it: here and now for a small set, as a background job for a large one."""
    if action not in Action.values:
        raise ValidationError({"action": f"Unknown bulk action {action!r}; one of {', '.join(Action.values)}."})
    if not task_ids:
        raise ValidationError({"task_ids": "No tasks selected."})
    if action in (Action.APPROVE, Action.REJECT) and not actor.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied(f"{actor} is not a reviewer (Reviewers group)")
    with transaction.atomic():
        operation = BulkOperation.objects.create(
            action=action, task_ids=list(task_ids), total=len(task_ids), criteria=criteria, comment=comment,
            created_by=acting_user(actor),
        )  # fmt: skip
        operation.comment = comment or f"bulk operation #{operation.pk}"  # in each task's timeline
        if operation.total > settings.EXECUTION_BULK_INLINE_MAX:
            operation.rq_job_id = f"bulk-{operation.pk}"
        operation.save(update_fields=["comment", "rq_job_id"])
        if operation.rq_job_id:
            transaction.on_commit(lambda: _bulk_job_push(operation))
    if operation.total <= settings.EXECUTION_BULK_INLINE_MAX:
        bulk_operation_run(operation_id=operation.pk)
    operation.refresh_from_db()
    return operation


def _bulk_job_push(operation: BulkOperation) -> None:
    try:
        bulk_job_enqueue(operation_id=operation.pk, job_id=operation.rq_job_id)
    except REDIS_ERRORS as error:
        logger.warning("bulk operation %s not started: %s", operation.pk, error)
        BulkOperation.objects.filter(pk=operation.pk).update(
            status=BulkOperation.Status.FAILED, finished_at=timezone.now(),
            error=f"could not start: Redis is unreachable ({type(error).__name__}: {error}); nothing was changed",
        )  # fmt: skip


# The statuses each action applies to (a running task's cancellation takes effect at its next safe point): the
# admin offers an action on a task page only when the task is in one of these.
ACTION_SOURCES: dict[str, frozenset[str]] = {
    Action.ENQUEUE: frozenset({ExecutionTask.Status.PENDING}),
    Action.RETRY: frozenset({ExecutionTask.Status.FAILED}),
    Action.CANCEL: frozenset({ExecutionTask.Status.PENDING, ExecutionTask.Status.NEEDS_REVIEW,
                              ExecutionTask.Status.QUEUED, ExecutionTask.Status.RUNNING}),  # fmt: skip
    Action.APPROVE: frozenset({ExecutionTask.Status.NEEDS_REVIEW}),
    Action.REJECT: frozenset({ExecutionTask.Status.NEEDS_REVIEW}),
}


def tasks_apply(
    *, action: str, task_ids: list[int], actor, comment: str = "", bulk: bool | None = None
) -> tuple[int, list[str]]:
    """Apply one admin action to tasks through the one-task services; returns how many tasks it changed and
    why others were refused. Tasks no longer in a state the action applies to are left alone."""
    if action in (Action.ENQUEUE, Action.RETRY):
        from_status = ExecutionTask.Status.PENDING if action == Action.ENQUEUE else ExecutionTask.Status.FAILED
        return tasks_queue(task_ids=task_ids, from_status=from_status, actor=actor, message=comment), []
    bulk = len(task_ids) > 1 if bulk is None else bulk  # bulk approval passes only low and medium risk
    one_task: dict[str, Callable[[ExecutionTask], object]] = {
        Action.CANCEL: lambda task: task_cancel(task=task, actor=actor),
        Action.APPROVE: lambda task: task_approve(task=task, reviewer=actor, comment=comment, bulk=bulk),
        Action.REJECT: lambda task: task_reject(task=task, reviewer=actor, comment=comment, bulk=bulk),
    }
    changed, problems = 0, []
    for task in ExecutionTask.objects.filter(pk__in=task_ids).order_by("pk"):
        try:
            one_task[action](task)
            changed += 1
        except TaskStateError:
            pass
        except PermissionDenied as refusal:
            problems.append(str(refusal))
        except ValidationError as refusal:
            problems.append("; ".join(refusal.messages))
    return changed, problems


def bulk_operation_run(*, operation_id: int) -> str:
    """Work through the operation chunk by chunk; each chunk and its progress commit together, so a job that
    dies resumes where it stopped and never applies a chunk twice."""
    claimed = BulkOperation.objects.filter(
        pk=operation_id, status__in=(BulkOperation.Status.QUEUED, BulkOperation.Status.RUNNING)
    ).update(status=BulkOperation.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        return "nothing to do"
    try:
        return _chunks_run(operation_id)
    except Exception as error:
        BulkOperation.objects.filter(pk=operation_id).update(
            status=BulkOperation.Status.FAILED, finished_at=timezone.now(), error=f"{type(error).__name__}: {error}"
        )
        raise


def _chunks_run(operation_id: int) -> str:
    chunk = settings.EXECUTION_BULK_CHUNK
    while True:
        with transaction.atomic():
            operation = (
                BulkOperation.objects.select_for_update(of=("self",)).select_related("created_by").get(pk=operation_id)
            )
            task_ids = operation.task_ids[operation.processed : operation.processed + chunk]
            if not task_ids:
                operation.status, operation.finished_at = BulkOperation.Status.DONE, timezone.now()
                operation.save(update_fields=["status", "finished_at"])
                return f"{operation.changed} changed, {operation.skipped} skipped"
            changed, problems = tasks_apply(
                action=operation.action, task_ids=task_ids, actor=operation.created_by, comment=operation.comment,
                bulk=operation.total > 1,
            )
            BulkOperation.objects.filter(pk=operation_id).update(
                processed=F("processed") + len(task_ids),
                changed=F("changed") + changed,
                skipped=F("skipped") + len(task_ids) - changed,
                problems=(operation.problems + problems)[:PROBLEMS_KEPT],
            )


def bulk_operations_resume() -> int:
    """Re-push bulk operations whose job vanished (worker killed, Redis lost it); they resume where they were."""
    unfinished = list(
        BulkOperation.objects.filter(
            status__in=(BulkOperation.Status.QUEUED, BulkOperation.Status.RUNNING), total__gt=F("processed")
        )
        .exclude(rq_job_id="")
        .values_list("pk", "rq_job_id")
    )
    statuses = job_statuses([job_id for _, job_id in unfinished])
    lost = [pk for (pk, _), status in zip(unfinished, statuses, strict=True) if status not in LIVE_JOB_STATUSES]
    for operation in BulkOperation.objects.filter(pk__in=lost):
        _bulk_job_push(operation)
    return len(lost)
