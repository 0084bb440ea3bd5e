"""TaskWorker: the worker claims and records each task on its own warm connection; the forked work horse only
runs the executor. Real `rqworker` processes, real PostgreSQL and Redis, a local chat-completions server."""

import signal
import time

import psutil
import pytest
from django.db import connection

from apps.execution.models import ExecutionTask
from apps.execution.services import task_create, tasks_create_many
from tests.fakes.chat_completions import Reply

from .conftest import worker_start

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def sessions_opened() -> int:
    """Sessions ever opened on the test database (PostgreSQL counts them as they start)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def run_burst(*args: str, **extra: str) -> str:
    worker = worker_start(*args, **extra)
    output = worker.communicate(timeout=120)[0]
    assert worker.returncode == 0, output
    return output


def wait_for(condition, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("worker_class", "most_sessions"),
    [("apps.execution.worker.TaskWorker", 3), ("rq.worker.Worker", None)],
)
def test_work_horses_of_the_task_worker_open_no_database_session(
    worker_class, most_sessions, ai_model, echo_type, redis_test_db
):
    """RQ's own Worker is the control: each of its horses opens a session, which is what the test detects."""
    tasks_create_many(task_type=echo_type, ai_model=ai_model, payloads=[{"n": n} for n in range(30)])
    before = sessions_opened()
    run_burst("--worker-class", worker_class)
    opened = sessions_opened() - before
    assert ExecutionTask.objects.filter(status="succeeded").count() == 30
    if most_sessions is None:
        assert opened >= 30
    else:  # the worker's schema check, then its one working connection
        assert opened <= most_sessions


def test_worker_killed_while_its_horse_waits_on_the_model_the_horse_records_the_outcome(
    chat_model, chat_type, chat_server, settings, redis_test_db
):
    chat_server.replies = [Reply(content="finished alone", delay_seconds=2)]
    task = task_create(task_type=chat_type, ai_model=chat_model, payload={"prompt": "x"})
    worker = worker_start(burst=False, TEST_QWEN_API_KEY="k")
    try:
        wait_for(lambda: chat_server.requests, seconds=60, what="the model call")
        psutil.Process(worker.pid).send_signal(signal.SIGKILL)  # the worker only: its horse is in its own session
        worker.wait()
        wait_for(lambda: ExecutionTask.objects.get(pk=task.pk).status != "running", seconds=10, what="recording")
    finally:
        if worker.poll() is None:
            worker.kill()
    task.refresh_from_db()
    assert (task.status, task.result["reply"], task.attempts) == ("succeeded", "finished alone", 1)
    assert len(chat_server.requests) == 1  # nothing ran twice


def test_horse_killed_mid_call_the_worker_records_a_retry_at_once(
    chat_model, chat_type, chat_server, settings, redis_test_db
):
    chat_server.replies = [Reply(delay_seconds=30), Reply(content="second attempt")]
    task = task_create(task_type=chat_type, ai_model=chat_model, payload={"prompt": "x"})
    worker = worker_start(TEST_QWEN_API_KEY="k")
    wait_for(lambda: chat_server.requests, seconds=60, what="the model call")
    horse = psutil.Process(worker.pid).children()[0]
    killed_at = time.monotonic()
    horse.send_signal(signal.SIGKILL)  # as the kernel's OOM killer would
    wait_for(lambda: ExecutionTask.objects.get(pk=task.pk).attempts == 2, seconds=10, what="the retry")
    retried_after = time.monotonic() - killed_at
    output = worker.communicate(timeout=60)[0]
    task.refresh_from_db()
    assert (task.status, task.result["reply"]) == ("succeeded", "second attempt"), output[-1500:]
    retried = task.events.get(kind="retried")
    assert "work horse ended without handing back an outcome" in retried.error
    assert retried_after < 5  # by the worker itself, not a sweep after timeout plus grace
