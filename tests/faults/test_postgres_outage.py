"""PostgreSQL stopped by PID for 30 s under load: the fault tests' own PostgreSQL (pgserver's binaries) and a
Valkey of this test's own, three `rqworker`s and the `cron` scheduler on them, and model calls to a local
chat-completions server. Nothing is restarted by hand."""

import collections
import time

from rq import Queue
from rq.registry import FailedJobRegistry

from tests.fakes.chat_completions import ChatCompletionsServer, Reply

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
TaskType.objects.create(slug="outage_work", executor="openai_compatible", timeout_seconds={timeout},
                        risk_rated_at=timezone.now())
"""
CREATE = """
from apps.execution.services import tasks_create_many
tasks_create_many(task_type="outage_work", ai_model="outage-model",
                  payloads=[{{"prompt": f"task {{n}}"}} for n in range({count})])
"""


def timelines(console, prompts: list[str]) -> str:
    rows = console.query(
        "SELECT t.payload->>'prompt', e.created_at, e.kind, e.message, left(e.error, 200) FROM execution_events e"
        " JOIN execution_tasks t ON t.id = e.task_id WHERE t.payload->>'prompt' = ANY(%s) ORDER BY e.id",
        [prompts],
    )
    return "\n".join(" | ".join(str(value) for value in row) for row in rows)


def test_postgres_down_30_s_under_load_loses_no_task_and_repeats_no_model_call(console_deploy, postgres_server):
    model_server = ChatCompletionsServer(replies=[Reply(delay_seconds=0.5)]).start()
    try:
        console = console_deploy(
            EXECUTION_SWEEP_INTERVAL_SECONDS=str(SWEEP_SECONDS), EXECUTION_ORPHAN_AGE_SECONDS=str(SWEEP_SECONDS),
            EXECUTION_GRACE_SECONDS=str(GRACE_SECONDS),
        )  # fmt: skip
        console.run("shell", "-c", SETUP.format(base_url=model_server.base_url, timeout=TIMEOUT_SECONDS))
        for _ in range(3):
            console.start("rqworker", "default")
        console.start("cron")
        console.run("shell", "-c", CREATE.format(count=TASKS))
        # under way: some done, some running, most queued
        console.wait_until(lambda: console.statuses().get("succeeded", 0) >= 5, seconds=60, what="5 succeeded")

        postgres_server.stop()  # by PID, fast shutdown: every session cut
        time.sleep(OUTAGE_SECONDS)
        postgres_server.restart()
        back = time.monotonic()
        console.wait_until(lambda: console.statuses().get("succeeded", 0) == TASKS, seconds=RECOVERY_BOUND + 5,
                           what=f"all {TASKS} succeeded")  # fmt: skip
        print(f"all {TASKS} succeeded {time.monotonic() - back:.1f} s after PostgreSQL came back")

        assert console.alive(), "a worker or the scheduler exited"
        prompts = collections.Counter(request["body"]["messages"][0]["content"] for request in model_server.requests)
        assert set(prompts) == {f"task {n}" for n in range(TASKS)}
        repeated = [prompt for prompt, calls in prompts.items() if calls > 1]
        assert not repeated, timelines(console, repeated)  # no model call was made twice
        queue = Queue("default", connection=console.redis_server.client())
        failed = lambda: [i for i in FailedJobRegistry(queue=queue).get_job_ids() if i.startswith("task-")]  # noqa: E731
        console.wait_until(lambda: not failed(), seconds=3 * SWEEP_SECONDS + 5,
                           what="task jobs that failed during the outage pruned")  # fmt: skip
    finally:
        model_server.stop()
