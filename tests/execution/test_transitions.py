"""The transition funnel: every status change goes through `tasks_transition` and its table.

A trigger installed for these tests logs every change of `execution_tasks.status` the database sees, whoever
wrote it, so a path that bypassed the funnel with a move outside the table would show up in the log."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.execution.executors import ExecutorOutput
from apps.execution.models import ExecutionEvent, ExecutionTask
from apps.execution.services import (
    TRANSITIONS,
    TaskStateError,
    execution_pause,
    execution_resume,
    task_approve,
    task_cancel,
    task_create,
    task_enqueue,
    task_reject,
    tasks_apply,
    tasks_queue,
    tasks_transition,
)
from apps.execution.services.queueing import tasks_enqueue_failed
from apps.execution.services.running import task_claim, task_record_failure, task_record_success
from apps.execution.services.sweep import tasks_recover_lost
from apps.execution.services.transitions import FINAL_STATUSES
from tests.execution.factories import UserFactory

Status = ExecutionTask.Status


@pytest.fixture
def status_log(db):
    """Every status change the database sees, as (task id, from, to) rows, in order."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE TEMP TABLE status_moves (n serial, task_id bigint, source text, target text);
            CREATE FUNCTION pg_temp.log_status_move() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO status_moves (task_id, source, target) VALUES (NEW.id, OLD.status, NEW.status);
                RETURN NEW;
            END $$;
            CREATE TRIGGER log_status_move AFTER UPDATE OF status ON execution_tasks FOR EACH ROW
                WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION pg_temp.log_status_move();
            """
        )

    def moves() -> list[tuple[int, str, str]]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT task_id, source, target FROM status_moves ORDER BY n")
            return cursor.fetchall()

    yield moves
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER log_status_move ON execution_tasks")


@pytest.mark.parametrize("final", [Status.SUCCEEDED, Status.CANCELLED])
def test_a_finished_task_cannot_be_queued_again(ai_model, final):
    """Before the funnel, `tasks_queue(from_status="succeeded")` put a finished task back in the queue."""
    task = task_create(task_type="implement_idea", ai_model=ai_model, enqueue=False)
    ExecutionTask.objects.filter(pk=task.pk).update(status=final)
    with pytest.raises(TaskStateError, match=f"no task may move from {final} to queued"):
        tasks_queue(task_ids=[task.pk], from_status=final)
    assert ExecutionTask.objects.get(pk=task.pk).status == final
    assert not task.events.filter(kind__in=["queued", "retried"]).exists()


def test_one_statement_moves_only_tasks_in_an_allowed_status_and_records_their_events(ai_model, status_log):
    tasks = [task_create(task_type="implement_idea", ai_model=ai_model, enqueue=False) for _ in range(4)]
    ExecutionTask.objects.filter(pk=tasks[3].pk).update(status=Status.SUCCEEDED)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM status_moves")
        before = cursor.fetchone()[0]
    moved = tasks_transition(
        [task.pk for task in tasks], to=Status.QUEUED, event="queued", message="attempt {attempts}",
        changes={"rq_job_id": "x"},
    )  # fmt: skip
    assert [row.id for row in moved] == [task.pk for task in tasks[:3]]
    assert len(status_log()) - before == 3
    assert set(ExecutionTask.objects.filter(rq_job_id="x").values_list("pk", flat=True)) == {t.pk for t in tasks[:3]}
    events = ExecutionEvent.objects.filter(kind="queued", task__in=tasks)
    assert sorted(events.values_list("task_id", "message", "ai_model")) == [
        (task.pk, "attempt 0", ai_model.name) for task in tasks[:3]
    ]


def test_a_move_the_table_does_not_have_is_refused_before_anything_is_written(ai_model):
    task = task_create(task_type="implement_idea", ai_model=ai_model, enqueue=False)
    with pytest.raises(TaskStateError, match="no task may move from pending to succeeded"):
        tasks_transition([task.pk], to=Status.SUCCEEDED, event="completed", sources=[Status.PENDING])
    assert ExecutionTask.objects.get(pk=task.pk).status == Status.PENDING


def test_a_claimed_task_cannot_be_claimed_again(ai_model):
    task = task_create(task_type="implement_idea", ai_model=ai_model)
    assert task_claim(task_id=task.pk) is not None
    assert task_claim(task_id=task.pk) is None
    assert task.events.filter(kind="started").count() == 1


ACTIONS = [
    "queue_from_any",
    "enqueue",
    "claim",
    "succeed",
    "fail",
    "fail_for_good",
    "cancel",
    "approve",
    "reject",
    "enqueue_failed",
    "bulk_retry",
    "bulk_cancel",
    "recover_lost",
    "pause_toggle",
]
STATUSES = list(Status.values)


@pytest.fixture
def reviewer(db):
    user = UserFactory()
    user.groups.add(Group.objects.get(name="Reviewers"))
    return user


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(ACTIONS), st.integers(0, 3), st.sampled_from(STATUSES)), min_size=1, max_size=30
    )
)
def test_no_sequence_of_service_calls_makes_a_move_outside_the_table(ai_model, reviewer, status_log, steps):
    tasks = [
        task_create(task_type=slug, ai_model=ai_model, enqueue=False)
        for slug in ("implement_idea", "self_improvement", "self_programming", "self_programming")
    ]
    ids = [task.pk for task in tasks]
    paused = False
    for action, index, status in steps:
        task = ExecutionTask.objects.get(pk=ids[index])
        try:
            if action == "queue_from_any":
                tasks_queue(task_ids=[task.pk], from_status=status)
            elif action == "enqueue":
                task_enqueue(task=task)
            elif action == "claim":
                task_claim(task_id=task.pk)
            elif action == "succeed":
                task_record_success(task=task, output=ExecutorOutput(result={"ok": True}), duration_ms=1)
            elif action in ("fail", "fail_for_good"):
                task_record_failure(task=task, error="boom", duration_ms=1, retry=action == "fail")
            elif action == "cancel":
                task_cancel(task=task)
            elif action == "approve":
                task_approve(task=task, reviewer=reviewer)
            elif action == "reject":
                task_reject(task=task, reviewer=reviewer)
            elif action == "enqueue_failed":
                tasks_enqueue_failed(task_ids=[task.pk], reason="Redis away")
            elif action == "bulk_retry":
                tasks_apply(action="retry", task_ids=ids, actor=reviewer)
            elif action == "bulk_cancel":
                tasks_apply(action="cancel", task_ids=ids[index:], actor=reviewer)
            elif action == "recover_lost":
                tasks_recover_lost()
            elif action == "pause_toggle":
                (execution_resume if paused else execution_pause)(actor=reviewer, reason="property test")
                paused = not paused
        except (TaskStateError, PermissionDenied, ValidationError):
            pass
    moves = [move for move in status_log() if move[0] in ids]
    outside = [move for move in moves if move[2] not in TRANSITIONS[move[1]]]
    assert outside == []
    for task_id in ids:  # nothing leaves a final status: a finished task never runs again
        statuses = [target for moved_id, _, target in moves if moved_id == task_id]
        for earlier, later in zip(statuses, statuses[1:], strict=False):
            assert earlier not in FINAL_STATUSES, f"task {task_id} moved {earlier} -> {later}"
    started_events = ExecutionEvent.objects.filter(task_id__in=ids, kind="started").count()
    assert started_events == len([move for move in moves if move[2] == Status.RUNNING])
    if paused:
        execution_resume(actor=reviewer, reason="property test done")


def test_no_tasks_is_no_move(db):
    assert tasks_transition([], to=Status.QUEUED, event="queued") == []
    assert tasks_queue(task_ids=[], from_status=Status.PENDING) == 0
