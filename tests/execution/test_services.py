import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rq import Queue
from rq.registry import FailedJobRegistry

from apps.execution.executors import executor_run
from apps.execution.models import ExecutionEvent, ExecutionTask
from apps.execution.services import TaskStateError, task_create, task_transition, tasks_recover_lost
from apps.execution.services.rqjobs import RUN_JOB
from apps.execution.services.sweep import failed_jobs_prune

from .factories import AIModelFactory, UserFactory

pytestmark = pytest.mark.django_db


def nothing_written() -> bool:
    return not ExecutionTask.objects.exists() and not ExecutionEvent.objects.exists()


def test_task_is_created_with_its_created_event_carrying_ai_model(ai_model):
    creator = UserFactory()
    task = task_create(
        task_type="implement_idea",
        ai_model="qwen2.5-coder-32b",
        payload={"prompt": "hi"},
        priority=5,
        created_by=creator,
    )
    task.refresh_from_db()
    assert (task.status, task.ai_model_id, task.task_type.slug) == ("queued", "qwen2.5-coder-32b", "implement_idea")
    assert (task.payload, task.priority, task.created_by) == ({"prompt": "hi"}, 5, creator)
    events = list(task.events.values_list("kind", "ai_model", "actor"))
    assert events == [("created", "qwen2.5-coder-32b", creator.pk), ("queued", "qwen2.5-coder-32b", creator.pk)]
    assert task.rq_job_id == f"task-{task.pk}-1"


@pytest.mark.parametrize(
    ("ai_model_name", "message"),
    [
        (None, "ai_model is required"),
        ("", "ai_model is required"),
        ("   ", "ai_model is required"),
        ("no-such-model", "Unknown ai_model 'no-such-model'"),
        ("retired-model", "ai_model 'retired-model' is inactive"),
        (42, "ai_model must be a model name"),
    ],
)
def test_task_without_a_usable_ai_model_is_refused_and_nothing_is_written(ai_model_name, message):
    AIModelFactory(name="retired-model", is_active=False)
    with pytest.raises(ValidationError) as error:
        task_create(task_type="implement_idea", ai_model=ai_model_name, payload={})
    assert list(error.value.message_dict) == ["ai_model"]
    assert message in error.value.message_dict["ai_model"][0]
    assert nothing_written()


@pytest.mark.parametrize("payload", [[1, 2], "prompt", 3, {"x": float("nan")}])
def test_payload_that_is_not_a_json_object_is_refused(ai_model, payload):
    with pytest.raises(ValidationError) as error:
        task_create(task_type="implement_idea", ai_model=ai_model.name, payload=payload)
    assert "payload" in error.value.message_dict
    assert nothing_written()


def test_every_bad_field_is_named_at_once():
    with pytest.raises(ValidationError) as error:
        task_create(task_type="no_such_type", ai_model=None, payload=[], priority=1000)
    assert sorted(error.value.message_dict) == ["ai_model", "payload", "priority", "task_type"]
    assert "Unknown task_type 'no_such_type'" in error.value.message_dict["task_type"][0]
    assert nothing_written()


def test_task_and_event_are_one_transaction(ai_model, monkeypatch):
    """If writing the `created` event fails, the task row is rolled back with it."""
    from apps.execution.services import creation as services

    def broken_event(*args, **kwargs):
        raise IntegrityError("event table unavailable")

    monkeypatch.setattr(services, "task_created_record", broken_event)
    with pytest.raises(IntegrityError):
        task_create(task_type="implement_idea", ai_model=ai_model.name)
    assert nothing_written()


@pytest.mark.parametrize(("slug", "status"), [("self_programming", "needs_review"), ("implement_idea", "queued")])
def test_tasks_that_need_review_start_as_needs_review(ai_model, slug, status):
    assert task_create(task_type=slug, ai_model=ai_model).status == status


def test_database_refuses_a_task_row_without_ai_model(ai_model):
    task = task_create(task_type="implement_idea", ai_model=ai_model)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE execution_tasks SET ai_model = NULL WHERE id = %s", [task.pk])


def test_database_refuses_a_payload_that_is_not_an_object(ai_model):
    task = task_create(task_type="implement_idea", ai_model=ai_model)
    with pytest.raises(IntegrityError), transaction.atomic():
        ExecutionTask.objects.filter(pk=task.pk).update(payload=[1, 2])


def test_ai_model_column_references_ai_model_names():
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.is_nullable, ccu.table_name, ccu.column_name
            FROM information_schema.columns c
            JOIN information_schema.key_column_usage kcu
              ON kcu.table_name = c.table_name AND kcu.column_name = c.column_name
            JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = kcu.constraint_name
            WHERE c.table_name = 'execution_tasks' AND c.column_name = 'ai_model'
            """
        )
        assert cursor.fetchall() == [("NO", "execution_aimodel", "name")]


def test_allowed_transition_moves_the_task(ai_model):
    task = task_create(task_type="implement_idea", ai_model=ai_model, enqueue=False)
    task_transition(task, to="queued", event="queued")
    assert task.status == "queued"


@pytest.mark.parametrize(
    ("start", "target"), [("pending", "running"), ("succeeded", "queued"), ("cancelled", "queued")]
)
def test_transition_not_in_the_state_machine_is_refused(ai_model, start, target):
    task = task_create(task_type="implement_idea", ai_model=ai_model)
    ExecutionTask.objects.filter(pk=task.pk).update(status=start)
    with pytest.raises(TaskStateError, match=f"cannot move from {start} to {target}"):
        task_transition(task, to=target, event="queued")
    assert ExecutionTask.objects.get(pk=task.pk).status == start


def test_second_claim_of_the_same_task_loses(ai_model):
    task = task_create(task_type="implement_idea", ai_model=ai_model, enqueue=False)
    task_transition(task, to="queued", event="queued")
    stale_copy = ExecutionTask.objects.get(pk=task.pk)
    task_transition(task, to="running", event="started")
    task_transition(task, to="succeeded", event="completed")
    with pytest.raises(TaskStateError):
        task_transition(stale_copy, to="running", event="started")


def test_the_sweep_prunes_failed_jobs_of_finished_tasks_and_keeps_current_ones(ai_model, redis_test_db):
    """RQ 3's registry.remove(delete_job=True) fails inside a pipeline; every sweep after an outage raised."""
    done = task_create(task_type="implement_idea", ai_model=ai_model, payload={})
    waiting = task_create(task_type="implement_idea", ai_model=ai_model, payload={})
    ExecutionTask.objects.filter(pk=done.pk).update(status="succeeded")
    queue = Queue("default", connection=redis_test_db)
    registry = FailedJobRegistry(queue=queue)
    for task in (done, waiting):
        job = queue.enqueue(RUN_JOB, task.pk, job_id=task.rq_job_id)
        registry.add(job, ttl=600, exc_string="PostgreSQL was away")
    assert failed_jobs_prune() == 1
    assert registry.get_job_ids() == [waiting.rq_job_id]
    assert not redis_test_db.exists(f"rq:job:{done.rq_job_id}")


@pytest.mark.parametrize(("job_status", "lost"), [("queued", False), ("finished", False), ("failed", True)])
def test_a_running_task_is_lost_only_when_its_job_ended_unrecorded(ai_model, redis_test_db, job_status, lost):
    """A second copy of a running task's job (re-pushed by a sweep after an outage) is `queued`: that task is not
    lost, and retrying it would call its model twice (tests/faults/test_postgres_outage.py found it)."""
    task = task_create(task_type="implement_idea", ai_model=ai_model, payload={})
    task_transition(task, to="running", event="started", changes={"started_at": timezone.now()})
    Queue("default", connection=redis_test_db).enqueue(RUN_JOB, task.pk, job_id=task.rq_job_id)
    redis_test_db.hset(f"rq:job:{task.rq_job_id}", "status", job_status)
    assert tasks_recover_lost() == int(lost)
    task.refresh_from_db()
    assert task.status == ("queued" if lost else "running")


def test_an_echo_model_answers_whatever_the_task_types_executor(ai_model):
    """A fresh install's task types all call OpenAI-compatible endpoints: an echo model must still run them."""
    task = task_create(task_type="implement_idea", ai_model=ai_model, payload={"prompt": "hi"})
    assert (task.task_type.executor, task.ai_model.provider) == ("openai_compatible", "echo")
    output = executor_run(task)
    assert output.result == {"echo": {"prompt": "hi"}}
