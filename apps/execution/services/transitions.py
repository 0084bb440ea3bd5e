"""The transition funnel: the only code that changes `ExecutionTask.status`, and the table of allowed moves.

Every move is one statement: a conditional UPDATE of the tasks still in an allowed source status, with the
event of each moved task inserted from its RETURNING rows (a data-modifying CTE), so a task's status and its
timeline never disagree and two workers racing for one task cannot both move it. Two functions make moves:
`tasks_transition` (every move) and `task_claim_transition` (a worker's queued -> running, its SQL written out
because it runs for every task). Features that must see every move (audit rows, risk scores, metrics) hook in
here, into both, and nowhere else; both record their events through `_RECORDED`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from apps.auditlog.models import AuditLog

from ..models import AIModel, ExecutionControl, ExecutionEvent, ExecutionTask, ScopedHold, TaskStatus, TaskType

Status = TaskStatus
Kind = ExecutionEvent.Kind

# from -> where a task may go. `succeeded` and `cancelled` lead nowhere: such a task never runs again.
# queued -> pending is the way back when Redis refused the job (the sweep queues it again); running -> queued
# is an automatic retry, failed -> queued a person's. pending/queued -> needs_review: a re-scoring found the
# task now too risky to run unreviewed (a queued task's job then finds nothing to claim).
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.NEEDS_REVIEW: frozenset({Status.PENDING, Status.CANCELLED}),
    Status.PENDING: frozenset({Status.QUEUED, Status.NEEDS_REVIEW, Status.CANCELLED}),
    Status.QUEUED: frozenset({Status.RUNNING, Status.PENDING, Status.NEEDS_REVIEW, Status.CANCELLED}),
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
    values = {**(changes or {}), "status": to}
    if _plain(tasks, where, skip_locked, values):
        update_sql, update_params = _update_sql_plain(list(tasks), sorted(sources), where, values)
    else:
        selected = tasks if isinstance(tasks, QuerySet) else ExecutionTask.objects.filter(pk__in=list(tasks))
        selected = selected.filter(status__in=sorted(sources))
        if where is not None:
            selected = selected.filter(where)
        if skip_locked:
            locked = selected.select_for_update(skip_locked=True).values("pk")
            selected = ExecutionTask.objects.filter(pk__in=locked, status__in=sorted(sources))
        try:
            update_sql, update_params = _update_sql(selected, values)
        except EmptyResultSet:  # Django proved no row can match (no ids given)
            return []
    with connection.cursor() as cursor:  # one statement: atomic on its own, no BEGIN/COMMIT round trips
        cursor.execute(  # update_sql is Django's compiled UPDATE or `_update_sql_plain`'s; values are parameters
            f"""
            WITH moved AS ({update_sql} RETURNING id, ai_model, attempts, rq_job_id, status, task_type_id, payload),
            {_RECORDED},
            {_AUDITED}
            SELECT id, ai_model, attempts, rq_job_id FROM moved ORDER BY id
            """,  # noqa: S608
            [*update_params, *_event_params(event, actor, message, error, duration_ms),
             *_audit_params(event, actor)],
        )  # fmt: skip
        return [Moved(*row) for row in cursor.fetchall()]


def task_claim_transition(task_id: int, *, now) -> ExecutionTask | None:
    """queued -> running for a worker, unless the task was cancelled or execution is paused, with its `started`
    event, returning the task with its type and AI model loaded. A worker runs this for every task: one
    statement whose SQL is written once, because building it with the ORM cost more than running it."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [now, task_id, ExecutionControl.SINGLETON_ID, *_event_params(
            Kind.STARTED, None, "attempt {attempts}", "", None), *_audit_params(Kind.STARTED, None)])  # fmt: skip
        cursor.nextset()  # past the SET LOCAL
        row = cursor.fetchone()
    return _claimed_task(row) if row else None


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
    """The `created` events of new tasks (creation is the one move with no source status), and their audit rows
    when their type keeps an audit trail."""
    rows = [
        ExecutionEvent(
            task=task, kind=Kind.CREATED, ai_model=task.ai_model_id, actor=actor, message=f"status {task.status}"
        )
        for task in tasks
        if task.status in INITIAL_STATUSES
    ]
    ExecutionEvent.objects.bulk_create(rows)
    ids = [row.task_id for row in rows]
    if ids and any(row.task.task_type.audit_trail for row in rows):
        with connection.cursor() as cursor:
            cursor.execute(_CREATED_AUDIT_SQL, [ids, *_audit_params(Kind.CREATED, actor)])


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


# The event of each moved row, inserted from the UPDATE's RETURNING rows (the `moved` CTE).
_RECORDED = """recorded AS (
                INSERT INTO execution_events
                    (task_id, kind, ai_model, actor_id, message, error, duration_ms, created_at)
                SELECT id, %s, ai_model, %s, replace(%s, '{attempts}', attempts::text), %s, %s, %s FROM moved
            )"""


# The audit row of each moved task whose type keeps an audit trail (self_programming): which status it reached
# by which event, who moved it, a hash of its payload and the code change it proposes (payload "diff"), in the
# same statement as the move. The chain trigger (apps/auditlog/chain.py) links each row to the one before.
_AUDIT_INSERT = f"""
                INSERT INTO {AuditLog._meta.db_table}
                    (created_at, actor_id, actor_label, action, object_type, object_id, object_repr, summary, details)
                SELECT %s, %s, %s, 'task.status', 'execution.executiontask', moved.id::text,
                    '#' || moved.id || ' ' || audited_type.slug || ' on ' || moved.ai_model,
                    'status ' || moved.status || ' (' || %s || ')',
                    jsonb_strip_nulls(jsonb_build_object(
                        'status', moved.status, 'event', %s,
                        'payload_sha256', encode(sha256(convert_to(moved.payload::text, 'UTF8')), 'hex'),
                        'diff', moved.payload -> 'diff'))
                FROM moved JOIN {TaskType._meta.db_table} audited_type ON audited_type.id = moved.task_type_id
                WHERE audited_type.audit_trail"""  # noqa: S608
_AUDITED = f"audited AS ({_AUDIT_INSERT})"
_CREATED_AUDIT_SQL = f"""
    WITH moved AS (SELECT id, ai_model, status, task_type_id, payload FROM execution_tasks WHERE id = ANY(%s))
    {_AUDIT_INSERT}"""  # noqa: S608


def _audit_params(event: str, actor) -> list:
    person = acting_user(actor)
    return [timezone.now(), person.pk if person else None, person.get_username() if person else "system", event,
            event]  # fmt: skip


def _event_params(event: str, actor, message: str, error: str, duration_ms: int | None) -> list:
    return [event, _actor_id(actor), message, error, duration_ms, timezone.now()]


def _plain(tasks, where: Q | None, skip_locked: bool, values: dict[str, Any]) -> bool:
    """Whether the move can skip the ORM: ids, plain values, and a `where` of field equalities (the worker's
    own moves, thousands a minute). Anything else goes through Django's compiler."""
    if isinstance(tasks, QuerySet) or skip_locked:
        return False
    if any(hasattr(value, "resolve_expression") for value in values.values()):
        return False
    if where is None:
        return True
    return (
        where.connector == Q.AND
        and not where.negated
        and all(
            isinstance(child, tuple)
            and "__" not in child[0]
            and child[0] != "pk"
            and not hasattr(child[1], "resolve_expression")
            for child in where.children
        )
    )


def _update_sql_plain(ids: list[int], sources: list[str], where: Q | None, values: dict[str, Any]) -> tuple[str, list]:
    fields = {name: ExecutionTask._meta.get_field(name) for name in [*values, *(dict(where.children) if where else {})]}
    assignments = ", ".join(f"{connection.ops.quote_name(fields[name].column)} = %s" for name in values)
    equalities = where.children if where else []
    conditions = "".join(f" AND {connection.ops.quote_name(fields[name].column)} = %s" for name, _value in equalities)
    params = [fields[name].get_db_prep_save(value, connection) for name, value in values.items()]
    params += [_one_or_all(ids), _one_or_all(sources)]
    params += [fields[name].get_db_prep_value(value, connection) for name, value in equalities]
    which = f"id {'= %s' if len(ids) == 1 else '= ANY(%s)'} AND status {'= %s' if len(sources) == 1 else '= ANY(%s)'}"
    sql = f"UPDATE execution_tasks SET {assignments} WHERE {which}{conditions}"  # noqa: S608
    return sql, params


def _one_or_all(values: list):
    """One value as itself (`= %s`), several as an array (`= ANY(%s)`): adapting a list costs more."""
    return values[0] if len(values) == 1 else values


def _columns(model, alias: str) -> str:
    return ", ".join(f"{alias}.{connection.ops.quote_name(field.column)}" for field in model._meta.concrete_fields)


# The claim does not wait for its commit to reach the disk (SET LOCAL: this statement only; the two run as one
# implicit transaction). A claim lost in a PostgreSQL crash, the last fraction of a second of commits, puts its
# task back to queued and the run under way is recorded nowhere: the task runs again, as a crash can make any
# task do (README, "What can run twice"). Outcomes are recorded with the usual durable commit.
_CLAIM_SQL = f"""
    SET LOCAL synchronous_commit TO off;
    WITH moved AS (
        UPDATE execution_tasks SET status = 'running', started_at = %s, finished_at = NULL, attempts = attempts + 1
        WHERE id = %s AND status = 'queued' AND NOT cancel_requested
            AND NOT EXISTS (SELECT FROM {ExecutionControl._meta.db_table} WHERE id = %s AND paused)
            AND NOT EXISTS (SELECT FROM {ScopedHold._meta.db_table} hold
                            WHERE hold.task_type_id = execution_tasks.task_type_id
                               OR hold.ai_model = execution_tasks.ai_model)
        RETURNING *
    ),
    {_RECORDED},
    {_AUDITED}
    SELECT {_columns(ExecutionTask, "moved")}, {_columns(TaskType, "task_type")}, {_columns(AIModel, "ai_model")}
    FROM moved
    JOIN {TaskType._meta.db_table} task_type ON task_type.id = moved.task_type_id
    JOIN {AIModel._meta.db_table} ai_model ON ai_model.name = moved.ai_model
"""  # noqa: S608
assert Status.RUNNING in TRANSITIONS[Status.QUEUED]  # the move _CLAIM_SQL makes


def _claimed_task(row: tuple) -> ExecutionTask:
    """Model instances from the claim's row, with the ORM's own conversions (JSON, decimals) applied."""
    instances = []
    for model in (ExecutionTask, TaskType, AIModel):
        fields = model._meta.concrete_fields
        values, row = row[: len(fields)], row[len(fields) :]
        instances.append(model.from_db(connection.alias, [f.attname for f in fields], _converted(model, values)))
    task, task.task_type, task.ai_model = instances  # the relations are cached: no query when they are read
    return task


def _converted(model, values: tuple) -> list:
    converted = list(values)
    for index, converters in _converters(model).items():
        for converter in converters:
            converted[index] = converter(converted[index], None, connection)
    return converted


_CONVERTERS: dict = {}


def _converters(model) -> dict[int, list]:
    """The ORM's converters of each column of `model` (what a queryset applies to what the database returns)."""
    if model not in _CONVERTERS:
        compiler = model.objects.all().query.get_compiler(connection=connection)
        columns = [field.get_col(model._meta.db_table) for field in model._meta.concrete_fields]
        _CONVERTERS[model] = {
            index: [converter for converter in converters] for index, (converters, _column) in
            compiler.get_converters(columns).items()
        }  # fmt: skip
    return _CONVERTERS[model]
