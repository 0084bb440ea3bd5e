"""Faults injected against real processes: three `rqworker`s and the `cron` scheduler on the fault tests' own
PostgreSQL and a Valkey this test starts and kills by PID. Nobody restarts anything by hand: the processes ride
out the outage and the sweep puts every task back on track."""

import signal
import time
from datetime import UTC, datetime

import psutil
from rq.cron import CronScheduler
from rq.worker import Worker

from tests.fakes.chat_completions import ChatCompletionsServer, Reply

SWEEP_SECONDS, GRACE_SECONDS, TIMEOUT_SECONDS = 2, 3, 12
RECOVERY_DEADLINE = TIMEOUT_SECONDS + GRACE_SECONDS + SWEEP_SECONDS  # what the issue promises

SETUP = """
from django.utils import timezone
from apps.execution.models import AIModel, TaskType
AIModel.objects.create(name="fault-model", provider={provider!r}, base_url={base_url!r},
                       api_key_env="TEST_QWEN_API_KEY", endpoint_approved_at=timezone.now())
TaskType.objects.create(slug="fault_work", executor={executor!r}, timeout_seconds={timeout},
                        risk_rated_at=timezone.now())
"""
CREATE = """
import time
from apps.execution.services import task_create
for n in range({count}):
    task_create(task_type="fault_work", ai_model="fault-model", payload={{"prompt": f"task {{n}}"}})
    time.sleep({pause})
"""


def console_start(console_deploy, *, provider="echo", executor="echo", base_url=""):
    """Three workers and the cron scheduler on a fresh database with one AI model and one task type."""
    console = console_deploy(
        EXECUTION_SWEEP_INTERVAL_SECONDS=str(SWEEP_SECONDS), EXECUTION_ORPHAN_AGE_SECONDS=str(SWEEP_SECONDS),
        EXECUTION_GRACE_SECONDS=str(GRACE_SECONDS), TEST_QWEN_API_KEY="sk-test",
    )  # fmt: skip
    console.run("shell", "-c", SETUP.format(provider=provider, executor=executor, base_url=base_url,
                                            timeout=TIMEOUT_SECONDS))  # fmt: skip
    for _ in range(3):
        console.start("rqworker", "default")
    console.start("cron")
    redis = console.redis_server.client()
    console.wait_until(lambda: len(Worker.all(connection=redis)) == 3 and console.alive(), seconds=60,
                       what="three workers registered")  # fmt: skip
    return console


def tasks_create(console, count: int, *, spread_seconds: float):
    """Create tasks one by one from another process, as API calls would, spread over `spread_seconds`."""
    return console.shell(CREATE.format(count=count, pause=spread_seconds / count))


def test_exactly_one_sweep_schedule_however_many_workers(console_deploy):
    console = console_start(console_deploy)
    redis = console.redis_server.client()
    console.wait_until(lambda: len(CronScheduler.all(redis)) == 1, seconds=20, what="the cron scheduler")
    [scheduler] = CronScheduler.all(redis)
    scheduler = CronScheduler.fetch(scheduler.name, redis)
    born = scheduler.created_at  # the scheduler starts before the workers have registered: count from its birth
    assert sorted(job.name for job in scheduler.get_jobs()) == [
        "blind-spots", "drift-alerts", "execution-sweep", "experiment-prices-archive", "income-prune-webhook-bodies",
        "income-reconcile", "income-stranded-webhooks", "lead-times", "offers-sweep", "rollout-guardrails",
        "safety-audits",
    ]  # fmt: skip
    sweep = next(job for job in scheduler.get_jobs() if job.name == "execution-sweep")
    console.wait_until(lambda: len(sweep.get_job_ids(redis)) >= 3, seconds=30, what="three sweeps")
    elapsed = (datetime.now(UTC) - born).total_seconds()
    assert len(CronScheduler.all(redis)) == 1
    # one sweep every SWEEP_SECONDS from one schedule, not one chain per worker
    assert len(sweep.get_job_ids(redis)) <= elapsed / SWEEP_SECONDS + 2


def test_tasks_created_during_a_redis_outage_all_succeed_without_a_restart(console_deploy):
    console = console_start(console_deploy)
    before = tasks_create(console, 50, spread_seconds=3)
    time.sleep(1.5)  # some done, some running, some queued when Redis dies
    console.redis_server.crash()
    during = tasks_create(console, 150, spread_seconds=10)
    assert before.wait(timeout=60) == 0, console.log.read_text()[-3000:]
    assert during.wait(timeout=60) == 0, console.log.read_text()[-3000:]
    time.sleep(max(0.0, 30 - 11.5))  # Redis is away for 30 s in all
    assert console.statuses().get("succeeded", 0) < 200
    console.redis_server.start()  # empty: every job it held is gone
    back = time.monotonic()
    done = console.wait_until(lambda: console.statuses().get("succeeded") == 200, seconds=RECOVERY_DEADLINE,
                              what="all 200 tasks succeeded")  # fmt: skip
    print(f"all 200 succeeded {done - back:.1f} s after Redis came back (deadline {RECOVERY_DEADLINE} s)")
    assert console.alive(), "a worker or the scheduler exited"
    [(completed, tasks)] = console.query(
        "SELECT count(*), count(DISTINCT task_id) FROM execution_events WHERE kind = 'completed'"
    )
    assert completed == tasks == 200  # none ran twice
    [(refused,)] = console.query("SELECT count(*) FROM execution_events WHERE kind = 'enqueue_failed'")
    assert refused > 0  # the outage really refused jobs


def test_a_worker_killed_mid_task_has_its_task_retried_in_time(console_deploy):
    model_server = ChatCompletionsServer(replies=[Reply(delay_seconds=TIMEOUT_SECONDS - 2), Reply()]).start()
    try:
        console = console_start(console_deploy, provider="openai_compatible", executor="openai_compatible",
                                base_url=model_server.base_url)  # fmt: skip
        assert tasks_create(console, 1, spread_seconds=0).wait(timeout=60) == 0, console.log.read_text()[-3000:]
        console.wait_until(lambda: bool(model_server.requests), seconds=20, what="the task calling its model")
        [(task_id, status, job_id)] = console.query("SELECT id, status, rq_job_id FROM execution_tasks")
        assert status == "running"
        workers = Worker.all(connection=console.redis_server.client())
        holder = next(worker for worker in workers if worker.get_current_job_id() == job_id)
        victim = psutil.Process(holder.pid)
        for process in [*victim.children(recursive=True), victim]:  # the worker and its work horse
            process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        retried = "SELECT error FROM execution_events WHERE task_id = %s AND kind = 'retried'"
        console.wait_until(lambda: bool(console.query(retried, [task_id])), seconds=RECOVERY_DEADLINE + 1,
                           what="the killed worker's task retried")  # fmt: skip
        print(f"retried {time.monotonic() - killed:.1f} s after the kill (deadline {RECOVERY_DEADLINE} s)")
        console.wait_until(lambda: console.statuses() == {"succeeded": 1}, seconds=30,
                           what="the retried task succeeded")  # fmt: skip
        assert "worker lost" in console.query(retried, [task_id])[0][0]
        assert len(model_server.requests) == 2
    finally:
        model_server.stop()
