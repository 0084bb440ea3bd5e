"""Faults injected against real processes: three `rqworker`s and the `cron` scheduler on a Redis server this
test starts and kills by PID, and the test database on PostgreSQL. Nobody restarts anything by hand: the
processes ride out the outage and the sweep puts every task back on track."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from django.db import connection
from rq.cron import CronScheduler
from rq.worker import Worker

from apps.execution.models import AIModel, ExecutionEvent, ExecutionTask, TaskType
from tests.conftest import ROOT
from tests.execution.conftest import worker_env
from tests.execution.factories import AIModelFactory
from tests.fakes.chat_completions import ChatCompletionsServer, Reply
from tests.fakes.valkey import ValkeyProcess
from tests.faults.processes import processes_stop

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SWEEP_SECONDS, GRACE_SECONDS, TIMEOUT_SECONDS = 2, 3, 12
RECOVERY_DEADLINE = TIMEOUT_SECONDS + GRACE_SECONDS + SWEEP_SECONDS  # what the issue promises


def console_process(redis_url: str, *args: str, log: Path) -> subprocess.Popen:
    env = worker_env(
        REDIS_URL=redis_url,
        EXECUTION_SWEEP_INTERVAL_SECONDS=str(SWEEP_SECONDS),
        EXECUTION_ORPHAN_AGE_SECONDS=str(SWEEP_SECONDS),
        EXECUTION_GRACE_SECONDS=str(GRACE_SECONDS),
        TEST_QWEN_API_KEY="sk-test",
    )
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, stdout=log.open("a"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def tasks_create(redis_url: str, count: int, *, task_type: str, ai_model: str, log: Path, spread_seconds: float):
    """Create tasks one by one from another process, as API calls would, spread over `spread_seconds`."""
    script = (
        "import time\nfrom apps.execution.services import task_create\n"
        f"for n in range({count}):\n"
        f"    task_create(task_type={task_type!r}, ai_model={ai_model!r}, payload={{'prompt': f'task {{n}}'}})\n"
        f"    time.sleep({spread_seconds / count})\n"
    )
    return console_process(redis_url, "shell", "-c", script, log=log)


@pytest.fixture
def console(tmp_path, ai_model):
    """Own Redis, three workers and the cron scheduler; everything stopped by PID afterwards."""
    redis_server = ValkeyProcess(tmp_path).start()
    log = tmp_path / "console.log"
    processes = [console_process(redis_server.url, "rqworker", "default", log=log) for _ in range(3)]
    processes.append(console_process(redis_server.url, "cron", log=log))
    deadline = time.monotonic() + 60
    while len(Worker.all(connection=redis_server.client())) < 3:
        assert time.monotonic() < deadline, log.read_text()
        assert all(process.poll() is None for process in processes), log.read_text()
        time.sleep(0.2)
    yield redis_server, processes, log
    processes_stop(processes)
    redis_server.stop()


def statuses(ids=None) -> dict[str, int]:
    tasks = ExecutionTask.objects.all() if ids is None else ExecutionTask.objects.filter(pk__in=ids)
    counts: dict[str, int] = {}
    for status in tasks.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def wait_until(condition, *, seconds: float, what: str, log: Path):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {seconds:.0f} s; {statuses()}\n{log.read_text()[-4000:]}")
        time.sleep(0.2)
    return time.monotonic()


@pytest.fixture
def echo_type(db):
    return TaskType.objects.create(slug="echo_fault", executor="echo", timeout_seconds=TIMEOUT_SECONDS)


def test_exactly_one_sweep_schedule_however_many_workers(console):
    redis_server, _processes, log = console
    connection_ = redis_server.client()
    wait_until(lambda: len(CronScheduler.all(connection_)) == 1, seconds=20, what="the cron scheduler", log=log)
    time.sleep(SWEEP_SECONDS * 3)
    schedulers = CronScheduler.all(connection_)
    assert len(schedulers) == 1
    scheduler = CronScheduler.fetch(schedulers[0].name, connection_)
    assert [job.name for job in scheduler.get_jobs()] == ["execution-sweep"]
    sweeps = scheduler.get_jobs()[0].get_job_ids(connection_)
    assert 2 <= len(sweeps) <= 5  # one every SWEEP_SECONDS from one schedule, not one chain per worker


def test_tasks_created_during_a_redis_outage_all_succeed_without_a_restart(console, ai_model, echo_type, tmp_path):
    redis_server, processes, log = console
    before = tasks_create(redis_server.url, 50, task_type="echo_fault", ai_model=ai_model.name, log=log,
                          spread_seconds=3)  # fmt: skip
    time.sleep(1.5)  # some done, some running, some queued when Redis dies
    redis_server.crash()
    during = tasks_create(redis_server.url, 150, task_type="echo_fault", ai_model=ai_model.name, log=log,
                          spread_seconds=10)  # fmt: skip
    assert before.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert during.wait(timeout=60) == 0, log.read_text()[-3000:]
    time.sleep(max(0.0, 30 - 11.5))  # Redis is away for 30 s in all
    assert statuses().get("succeeded", 0) < 200
    redis_server.start()  # empty: every job it held is gone
    back = time.monotonic()
    done = wait_until(
        lambda: statuses().get("succeeded") == 200, seconds=RECOVERY_DEADLINE, what="all 200 tasks succeeded",
        log=log,
    )  # fmt: skip
    print(f"all 200 succeeded {done - back:.1f} s after Redis came back (deadline {RECOVERY_DEADLINE} s)")
    assert all(process.poll() is None for process in processes), "a worker or the scheduler exited"
    completed = ExecutionEvent.objects.filter(kind="completed").values_list("task_id", flat=True)
    assert len(completed) == len(set(completed)) == 200  # none ran twice
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM execution_events WHERE kind = 'enqueue_failed'")
        assert cursor.fetchone()[0] > 0  # the outage really refused jobs


def test_a_worker_killed_mid_task_has_its_task_retried_in_time(console, tmp_path):
    redis_server, processes, log = console
    model_server = ChatCompletionsServer(replies=[Reply(delay_seconds=TIMEOUT_SECONDS - 2), Reply()]).start()
    try:
        model = AIModelFactory(
            name="slow-model", provider=AIModel.Provider.OPENAI_COMPATIBLE, base_url=model_server.base_url,
            api_key_env="TEST_QWEN_API_KEY",
        )  # fmt: skip
        TaskType.objects.create(slug="slow_fault", executor="openai_compatible", timeout_seconds=TIMEOUT_SECONDS)
        creator = tasks_create(redis_server.url, 1, task_type="slow_fault", ai_model=model.name, log=log,
                               spread_seconds=0)  # fmt: skip
        assert creator.wait(timeout=60) == 0, log.read_text()[-3000:]
        wait_until(lambda: bool(model_server.requests), seconds=20, what="the task calling its model", log=log)
        task = ExecutionTask.objects.get()
        assert task.status == "running"
        holder = next(
            w for w in Worker.all(connection=redis_server.client()) if w.get_current_job_id() == task.rq_job_id
        )
        victim = psutil.Process(holder.pid)
        for process in [*victim.children(recursive=True), victim]:  # the worker and its work horse
            process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        wait_until(
            lambda: task.events.filter(kind="retried").exists(), seconds=RECOVERY_DEADLINE + 1,
            what="the killed worker's task retried", log=log,
        )  # fmt: skip
        print(f"retried {time.monotonic() - killed:.1f} s after the kill (deadline {RECOVERY_DEADLINE} s)")
        wait_until(lambda: statuses().get("succeeded") == 1, seconds=30, what="the retried task succeeded", log=log)
        assert "worker lost" in task.events.get(kind="retried").error
    finally:
        model_server.stop()
