"""Read-only questions about tasks and the switch, shared by the use cases; nothing here writes."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from ..models import ExecutionControl, ExecutionTask, ScopedHold
from .rqjobs import LIVE_JOB_STATUSES, job_statuses

Status = ExecutionTask.Status


def execution_paused() -> bool:
    return ExecutionControl.objects.filter(pk=ExecutionControl.SINGLETON_ID, paused=True).exists()


def paused_switch():
    """The pause switch as a queryset that is non-empty while paused, for `~Exists(...)` in a claim."""
    return ExecutionControl.objects.filter(pk=ExecutionControl.SINGLETON_ID, paused=True)


def queued_tasks_without_live_job(*, older_than: timedelta) -> list[int]:
    """Queued tasks whose RQ job is gone, finished or failed (Redis lost it, or it ran while paused). Tasks under
    a scoped hold are left out: their jobs end unclaimed by design, and lifting the hold pushes them."""
    cutoff = timezone.now() - older_than
    held = ScopedHold.objects.filter(Q(task_type=OuterRef("task_type")) | Q(ai_model=OuterRef("ai_model")))
    tasks = list(
        ExecutionTask.objects.filter(status=Status.QUEUED, queued_at__lt=cutoff).exclude(Exists(held))
        .values_list("pk", "rq_job_id")[: settings.EXECUTION_SWEEP_BATCH]
    )  # fmt: skip
    statuses = job_statuses([job_id for _, job_id in tasks])
    return [pk for (pk, _), status in zip(tasks, statuses, strict=True) if status not in LIVE_JOB_STATUSES]


STATUS_COUNT_CAP = 10_000  # beyond this a status shows as "10,000+": a full count of millions of rows is slow
LIVE_STATUSES = frozenset({Status.PENDING, Status.QUEUED, Status.RUNNING})  # pages refresh while tasks are in these


def task_status_counts(tasks, *, cap: int = STATUS_COUNT_CAP) -> dict[str, int]:
    """How many of `tasks` (any filtered queryset) are in each status, each count stopping at `cap` + 1 so
    that it stays fast on a big table (`count > cap` means "more than cap")."""
    tasks = tasks.order_by()
    return {status: tasks.filter(status=status)[: cap + 1].count() for status in Status.values}
