"""The engine with real PostgreSQL, real Redis and real `rqworker` processes."""

import signal
import time

import psutil
import pytest
from django.core.exceptions import PermissionDenied
from rq import Queue

from apps.execution.models import AIModel, ExecutionTask, TaskType
from apps.execution.services import (
    execution_pause,
    execution_resume,
    task_approve,
    task_cancel,
    task_create,
    task_reject,
    tasks_recover_lost,
    tasks_sweep,
)
from apps.execution.services.rqjobs import RUN_JOB
from tests.fakes.chat_completions import Reply

from .conftest import worker_start
from .factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def kinds(task) -> list[str]:
    return list(task.events.order_by("created_at", "id").values_list("kind", flat=True))


def test_task_runs_to_succeeded_with_every_event_carrying_its_ai_model(ai_model, echo_type, run_workers):
    task = task_create(task_type=echo_type, ai_model=ai_model, payload={"prompt": "hello"})
    run_workers()
    task.refresh_from_db()
    assert task.status == "succeeded"
    assert task.result == {"echo": {"prompt": "hello"}}
    assert (task.attempts, task.cost) == (1, 0)
    assert task.duration_ms is not None and task.started_at <= task.finished_at
    assert kinds(task) == ["created", "queued", "started", "completed"]
    assert set(task.events.values_list("ai_model", flat=True)) == {"qwen2.5-coder-32b"}


def test_openai_compatible_task_stores_reply_usage_and_cost(chat_model, chat_type, chat_server, run_workers):
    chat_server.replies = [Reply(content="Here is the review.", prompt_tokens=1000, completion_tokens=500)]
    task = task_create(task_type=chat_type, ai_model=chat_model, payload={"prompt": "Review this diff"})
    run_workers(TEST_QWEN_API_KEY="sk-test-123")
    task.refresh_from_db()
    assert task.status == "succeeded", task.error
    assert task.result["reply"] == "Here is the review."
    assert (task.input_tokens, task.output_tokens) == (1000, 500)
    assert str(task.cost) == "0.005000"  # 1000 * 2.00/1M + 500 * 6.00/1M
    request = chat_server.requests[0]
    assert request["body"]["model"] == "qwen2.5-coder-32b"
    assert request["body"]["messages"] == [{"role": "user", "content": "Review this diff"}]
    assert request["auth"] == "Bearer sk-test-123"


def test_unknown_prices_give_unknown_cost_not_zero(chat_model, chat_type, chat_server, run_workers):
    AIModel.objects.filter(pk=chat_model.pk).update(output_price_per_million=None)
    chat_server.replies = [Reply()]
    task = task_create(task_type=chat_type, ai_model=chat_model, payload={"prompt": "x"})
    run_workers(TEST_QWEN_API_KEY="k")
    task.refresh_from_db()
    assert (task.status, task.cost) == ("succeeded", None)


def test_failing_executor_is_retried_then_failed_with_the_error(chat_model, chat_type, chat_server, run_workers):
    chat_server.replies = [Reply(status=500)]
    task = task_create(task_type=chat_type, ai_model=chat_model, payload={"prompt": "x"})
    run_workers(TEST_QWEN_API_KEY="k")
    task.refresh_from_db()
    assert (task.status, task.attempts) == ("failed", 2)
    assert "InternalServerError" in task.error and "scripted 500" in task.error and "Traceback" in task.error
    assert kinds(task) == ["created", "queued", "started", "retried", "started", "failed"]
    assert len(chat_server.requests) == 2


def test_endpoint_timeout_is_a_failure_that_is_retried(chat_model, chat_type, chat_server, run_workers):
    chat_server.replies = [Reply(delay_seconds=5), Reply(content="second try")]
    task = task_create(task_type=chat_type, ai_model=chat_model, payload={"prompt": "x"})
    run_workers(TEST_QWEN_API_KEY="k")
    task.refresh_from_db()
    assert (task.status, task.result["reply"]) == ("succeeded", "second try")
    assert "Timeout" in task.events.get(kind="retried").error


def test_task_that_cannot_run_as_given_fails_without_retry(chat_model, chat_type, run_workers):
    task = task_create(task_type=chat_type, ai_model=chat_model, payload={"prompt": "x"})
    run_workers()  # TEST_QWEN_API_KEY is not set
    task.refresh_from_db()
    assert (task.status, task.attempts) == ("failed", 1)
    assert "environment variable TEST_QWEN_API_KEY" in task.error


def test_two_workers_racing_run_each_task_exactly_once(ai_model, echo_type, run_workers, redis_test_db):
    tasks = [task_create(task_type=echo_type, ai_model=ai_model, payload={"n": n}) for n in range(40)]
    queue = Queue("default", connection=redis_test_db)
    for task in tasks:  # a second job for every task, as a duplicate delivery would give
        queue.enqueue(RUN_JOB, task.pk, job_id=f"duplicate-{task.pk}")
    run_workers(count=2)
    for task in ExecutionTask.objects.filter(pk__in=[t.pk for t in tasks]):
        assert (task.status, task.attempts) == ("succeeded", 1)
        assert kinds(task).count("started") == 1 and kinds(task).count("completed") == 1


def test_worker_killed_mid_task_is_retried_within_timeout_plus_grace(
    chat_model, chat_type, chat_server, settings, redis_test_db
):
    settings.EXECUTION_GRACE_SECONDS = 1
    settings.EXECUTION_RETRY_BACKOFF_SECONDS = 0  # the recovery runs here, in the test process
    chat_server.replies = [Reply(delay_seconds=30), Reply(content="after the crash")]
    task = task_create(task_type=chat_type, ai_model=chat_model, payload={"prompt": "x"})
    worker = worker_start(TEST_QWEN_API_KEY="k")
    deadline = time.monotonic() + 60
    while not chat_server.requests:  # the task is running and waiting on its model endpoint
        assert time.monotonic() < deadline, "task never reached its endpoint"
        time.sleep(0.1)
    assert ExecutionTask.objects.get(pk=task.pk).status == "running"
    # RQ's work horse runs in a session of its own; kill it and its worker, as an OOM kill would.
    for process in [*psutil.Process(worker.pid).children(recursive=True), psutil.Process(worker.pid)]:
        process.send_signal(signal.SIGKILL)
    worker.wait()
    killed_at = time.monotonic()

    # Not before its timeout plus grace: a slow task is not a lost one.
    assert tasks_recover_lost() == 0 and ExecutionTask.objects.get(pk=task.pk).status == "running"
    while ExecutionTask.objects.get(pk=task.pk).status == "running":
        assert time.monotonic() - killed_at < chat_type.timeout_seconds + settings.EXECUTION_GRACE_SECONDS + 5
        tasks_recover_lost()
        time.sleep(0.2)
    task.refresh_from_db()
    assert task.status == "queued"
    assert "worker lost" in task.events.get(kind="retried").error

    rerun = worker_start(TEST_QWEN_API_KEY="k")
    output = rerun.communicate(timeout=60)[0]
    task.refresh_from_db()
    assert task.status == "succeeded", (task.error[-600:], output[-1500:])
    assert (task.status, task.result["reply"], task.attempts) == ("succeeded", "after the crash", 2)


def test_task_that_needs_review_waits_for_a_reviewer_who_did_not_create_it(
    ai_model, operator, reviewer, run_workers, redis_test_db
):
    task = task_create(
        task_type="self_programming", ai_model=ai_model, payload={"prompt": "patch"}, created_by=reviewer
    )
    assert task.status == "needs_review"
    Queue("default", connection=redis_test_db).enqueue(RUN_JOB, task.pk)  # a stray job must not run it
    run_workers()
    task.refresh_from_db()
    assert task.status == "needs_review" and "started" not in kinds(task)

    with pytest.raises(PermissionDenied, match="created task"):
        task_approve(task=task, reviewer=reviewer)
    with pytest.raises(PermissionDenied, match="not a reviewer"):
        task_approve(task=task, reviewer=operator)
    assert ExecutionTask.objects.get(pk=task.pk).status == "needs_review"

    second_reviewer = UserFactory(username="rob-reviewer")
    second_reviewer.groups.add(*reviewer.groups.all())
    task_approve(task=task, reviewer=second_reviewer, comment="looks safe")
    approved = task.events.get(kind="approved")
    assert (approved.actor, approved.message, approved.ai_model) == (second_reviewer, "looks safe", ai_model.name)
    TaskType.objects.filter(slug="self_programming").update(executor="echo")
    run_workers()
    task.refresh_from_db()
    assert task.status == "succeeded"


def test_rejected_task_is_cancelled_and_never_runs(ai_model, operator, reviewer, run_workers):
    task = task_create(task_type="self_programming", ai_model=ai_model, created_by=operator)
    task_reject(task=task, reviewer=reviewer, comment="too risky")
    run_workers()
    task.refresh_from_db()
    assert task.status == "cancelled" and kinds(task) == ["created", "rejected"]


def test_cancelled_queued_task_leaves_the_queue_and_never_runs(
    ai_model, echo_type, operator, run_workers, redis_test_db
):
    task = task_create(task_type=echo_type, ai_model=ai_model)
    assert Queue("default", connection=redis_test_db).count == 1
    task_cancel(task=task, actor=operator)
    assert Queue("default", connection=redis_test_db).count == 0
    run_workers()
    task.refresh_from_db()
    assert task.status == "cancelled" and "started" not in kinds(task)


def test_paused_execution_starts_nothing_until_resumed(ai_model, echo_type, operator, run_workers):
    execution_pause(actor=operator, reason="FSAR fsar_123 says block")
    task = task_create(task_type=echo_type, ai_model=ai_model)
    run_workers()
    task.refresh_from_db()
    assert task.status == "queued" and "started" not in kinds(task)

    execution_resume(actor=operator, reason="reviewed")
    run_workers()
    task.refresh_from_db()
    assert task.status == "succeeded"


def test_tasks_enqueued_while_redis_is_down_run_once_redis_is_back(
    ai_model, echo_type, settings, tmp_path, run_workers
):
    from tests.fakes.valkey import ValkeyProcess

    valkey = ValkeyProcess(tmp_path).start()
    settings.RQ_QUEUES = {"default": {"URL": valkey.url}}
    try:
        valkey.stop()
        tasks = [task_create(task_type=echo_type, ai_model=ai_model, payload={"n": n}) for n in range(5)]
        for task in tasks:
            task.refresh_from_db()
            assert task.status == "pending" and task.error.startswith("enqueue failed: ConnectionError")
        assert tasks_sweep()["enqueued"] == 0  # still down: nothing lost, nothing queued

        valkey.start()
        assert tasks_sweep()["enqueued"] == 5
        run_workers(REDIS_URL=valkey.url)
        for task in tasks:
            task.refresh_from_db()
            assert task.status == "succeeded"
            assert kinds(task).count("started") == 1
    finally:
        valkey.stop()
