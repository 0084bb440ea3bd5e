"""The transition funnel: the only code that changes `ExecutionTask.status`, and the table of allowed moves.

Every move is one statement: a conditional UPDATE of the tasks still in an allowed source status, with the
event of each moved task inserted from its RETURNING rows (a data-modifying CTE), so a task's status and its
timeline never disagree and two workers racing for one task cannot both move it. Features that must see every
move (audit rows, risk scores, metrics) hook in here, in `tasks_transition`, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from ..models import ExecutionEvent, ExecutionTask, TaskStatus

Status = TaskStatus
Kind = ExecutionEvent.Kind

# from -> where a task may go. `succeeded` and `cancelled` lead nowhere: such a task never runs again.
# queued -> pending is the way back when Redis refused the job (the sweep queues it again); running -> queued
# is an automatic retry, failed -> queued a person's.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.NEEDS_REVIEW: frozenset({Status.PENDING, Status.CANCELLED}),
    Status.PENDING: frozenset({Status.QUEUED, Status.CANCELLED}),
    Status.QUEUED: frozenset({Status.RUNNING, Status.PENDING, Status.CANCELLED}),
    Status.RUNNING: frozenset({Status.SUCCEEDED, Status.FAILED, Status.QUEUED, Status.CANCELLED}),
    Status.FAILED: frozenset({Status.QUEUED}),
    Status.SUCCEEDED: frozenset(),
    Status.CANCELLED: frozenset(),
}
FINAL_STATUSES = frozenset(source for source, targets in TRANSITIONS.items() if not targets)
INITIAL_STATUSES = frozenset({Status.PENDING, Status.NEEDS_REVIEW})


class TaskStateError(Exception):
    """A status change the table does not allow (or another worker got there first)."""


@dataclass(frozen=True)
class Moved:
    """A task a transition moved: enough to push its job or report on it without reading it again."""

    id: int
    ai_model_id: str
    attempts: int
    rq_job_id: str


def statuses_leading_to(to: str) -> frozenset[str]:
    return frozenset(source for source, targets in TRANSITIONS.items() if to in targets)


def tasks_transition(
    tasks: QuerySet | Iterable[int],
    *,
    to: str,
    event: str,
    sources: Iterable[str] | None = None,
    where: Q | None = None,
    skip_locked: bool = False,
    actor=None,
    message: str = "",
    error: str = "",
    duration_ms: int | None = None,
    changes: dict[str, Any] | None = None,
) -> list[Moved]:
    """Move every task in `tasks` that is in one of `sources` (default: every status the table allows) and
    matches `where` to `to`, set the fields in `changes` (values or expressions), and record one `event` per
    moved task with `actor`, `message`, `error` and `duration_ms`. Returns the tasks moved.

    `message` may hold `{attempts}`, filled in per task. With `skip_locked` rows another transaction holds are
    skipped rather than waited on. Asking for a move the table forbids raises TaskStateError.
    """
    allowed = statuses_leading_to(to)
    sources = allowed if sources is None else frozenset(sources)
    if forbidden := sources - allowed:
        raise TaskStateError(f"no task may move from {', '.join(sorted(forbidden))} to {to}")
    selected = tasks if isinstance(tasks, QuerySet) else ExecutionTask.objects.filter(pk__in=list(tasks))
    selected = selected.filter(status__in=sorted(sources))
    if where is not None:
        selected = selected.filter(where)
    if skip_locked:
        locked = selected.select_for_update(skip_locked=True).values("pk")
        selected = ExecutionTask.objects.filter(pk__in=locked, status__in=sorted(sources))
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        try:
            update_sql, update_params = _update_sql(selected, {**(changes or {}), "status": to})
        except EmptyResultSet:  # Django proved no row can match (no ids given)
            return []
        cursor.execute(  # update_sql is Django's own compiled UPDATE; every value travels as a parameter
            f"""
            WITH moved AS ({update_sql} RETURNING id, ai_model, attempts, rq_job_id),
            recorded AS (
                INSERT INTO execution_events
                    (task_id, kind, ai_model, actor_id, message, error, duration_ms, created_at)
                SELECT id, %s, ai_model, %s, replace(%s, '{{attempts}}', attempts::text), %s, %s, %s FROM moved
            )
            SELECT id, ai_model, attempts, rq_job_id FROM moved ORDER BY id
            """,  # noqa: S608
            [*update_params, event, _actor_id(actor), message, error, duration_ms, now],
        )
        return [Moved(*row) for row in cursor.fetchall()]


def task_transition(task: ExecutionTask, *, to: str, event: str, refresh: bool = True, **kwargs: Any) -> ExecutionTask:
    """Move one task (see `tasks_transition`); TaskStateError names its status when it could not move."""
    if not tasks_transition([task.pk], to=to, event=event, **kwargs):
        current = ExecutionTask.objects.filter(pk=task.pk).values_list("status", flat=True).first()
        raise TaskStateError(f"task {task.pk} cannot move from {current or 'deleted'} to {to}")
    if refresh:
        task.refresh_from_db()
    else:  # the caller knows what it wrote and needs no read back
        task.status = to
        for name, value in (kwargs.get("changes") or {}).items():
            if not hasattr(value, "resolve_expression"):
                setattr(task, name, value)
    return task


def task_created_record(tasks: Iterable[ExecutionTask], *, actor=None) -> None:
    """The `created` events of new tasks (creation is the one move with no source status)."""
    rows = [
        ExecutionEvent(
            task=task, kind=Kind.CREATED, ai_model=task.ai_model_id, actor=actor, message=f"status {task.status}"
        )
        for task in tasks
        if task.status in INITIAL_STATUSES
    ]
    ExecutionEvent.objects.bulk_create(rows)


def event_record(
    *, task: ExecutionTask, kind: str, actor=None, message: str = "", error: str = "", duration_ms: int | None = None
) -> ExecutionEvent:
    """Append an event that is not a move (a cancellation asked of a running task) to the task's timeline."""
    return ExecutionEvent.objects.create(
        task=task, kind=kind, ai_model=task.ai_model_id, actor=actor, message=message, error=error,
        duration_ms=duration_ms,
    )  # fmt: skip


def acting_user(user):
    """Who to record as having done something: a signed-in user, else nobody (the system, a job, a webhook)."""
    return user if user is not None and user.is_authenticated else None


def _actor_id(actor) -> int | None:
    actor = acting_user(actor)
    return actor.pk if actor is not None else None


def _update_sql(selected: QuerySet, values: dict[str, Any]) -> tuple[str, tuple]:
    """The UPDATE Django would run for `selected.update(**values)`, as SQL to wrap (Django has no RETURNING)."""
    query = selected.query.chain(UpdateQuery)
    query.add_update_values(values)
    compiler = query.get_compiler(connection=connection)
    compiler.pre_sql_setup()
    sql, params = compiler.as_sql()
    return sql, tuple(params)

