"""Throughput of the execution engine against bare RQ, measured in the same run on the same servers, and how a
worker pool scales when every task waits on a model for a second.

    .venv/bin/python -m opsconsole.devservers exec -- .venv/bin/python bench/execution.py [--tasks 1000]

Part 1, per kind of worker (one burst `manage.py rqworker` process per measurement, start-up included):
  forking:  (a) bare RQ: N no-op jobs on RQ's own `Worker`;  (b) console: N `echo` tasks on `TaskWorker`,
            the worker README recommends for production (target b/a >= 0.8);
  no fork:  (a) bare RQ on `SimpleWorker`;  (b) console on `SimpleWorker` (target b/a >= 0.6).
  The console's N tasks are created and enqueued inside the timed span and must all end `succeeded` with
  their four events; bare RQ's jobs are enqueued in one pipeline, also timed.
Part 2: tasks whose model call takes --model-seconds (a local chat-completions server that sleeps), run by
  `manage.py rqworker-pool --num-workers N`: tasks/s it sustains against the ideal N/model-seconds, and the
  memory of a worker process and of its work horse while they work (RSS; USS: pages no other process shares).
Uses a scratch database (`<name>_bench`, dropped at the end) and Redis database 14, flushed; runs with
production settings (DEBUG off).
"""

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from statistics import median
from urllib.parse import urlsplit

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RECOMMENDED = "apps.execution.worker.TaskWorker"
KINDS = [  # (kind, bare RQ's class, the console's class, target)
    ("forking", "rq.worker.Worker", RECOMMENDED, 0.8),
    ("no fork", "rq.worker.SimpleWorker", "rq.worker.SimpleWorker", 0.6),
]


def scratch_urls() -> tuple[str, str]:
    database = urlsplit(os.environ["DATABASE_URL"])
    bench_database = database._replace(path=f"{database.path.rstrip('/') or '/opsconsole'}_bench").geturl()
    redis = urlsplit(os.environ["REDIS_URL"])
    if redis.scheme == "unix":
        bench_redis = f"unix://{redis.path}?db=14"
    else:
        bench_redis = redis._replace(path="/14", query="").geturl()
    return bench_database, bench_redis


def database_recreate(url: str, *, drop_only: bool = False) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres", scheme="postgresql").geturl()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            admin.execute(f'CREATE DATABASE "{name}"')


def scratch_django_setup() -> str:
    """Django on an empty scratch database (not yet migrated) and Redis database 14; returns the database URL."""
    database_url, redis_url = scratch_urls()
    database_recreate(database_url)
    os.environ.update(DATABASE_URL=database_url, REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE="opsconsole.settings")
    # Production settings: with DEBUG on, Django records every query and a task costs about 60% more.
    os.environ.update(DEBUG="false", SECRET_KEY="bench-only-not-a-secret", ALLOWED_HOSTS="localhost")  # noqa: S106
    import django

    django.setup()
    return database_url


def manage(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT, env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def burst_worker(worker_class: str) -> None:
    if (code := manage("rqworker", "--burst", "--worker-class", worker_class, "default").wait()) != 0:
        raise SystemExit(f"rqworker --worker-class {worker_class} exited with {code}")


def tasks_check(count: int, ai_model: str) -> None:
    from apps.execution.models import ExecutionEvent, ExecutionTask

    succeeded = ExecutionTask.objects.filter(ai_model=ai_model, status="succeeded").count()
    events = ExecutionEvent.objects.filter(ai_model=ai_model).count()
    assert succeeded == count, f"only {succeeded} of {count} tasks of {ai_model} succeeded"
    assert events == 4 * count, f"{events} events for {count} tasks of {ai_model}, expected {4 * count}"


def bare_rq_seconds(queue, count: int, worker_class: str) -> float:
    started = time.perf_counter()
    with queue.connection.pipeline() as pipeline:
        queue.enqueue_many([queue.prepare_data("bench.jobs.noop") for _ in range(count)], pipeline=pipeline)
        pipeline.execute()
    burst_worker(worker_class)
    return time.perf_counter() - started


def console_seconds(count: int, worker_class: str, ai_model, task_type) -> float:
    from apps.execution.services import tasks_create_many

    started = time.perf_counter()
    tasks_create_many(task_type=task_type, ai_model=ai_model, payloads=[{"n": n} for n in range(count)])
    burst_worker(worker_class)
    seconds = time.perf_counter() - started
    tasks_check(count, ai_model.name)
    return seconds


def throughput_table(queue, count: int, rounds: int) -> None:
    """Each figure is the median of `rounds` measurements, (a) and (b) alternating so that both meet the same
    moments of a shared machine."""
    from django.utils import timezone

    from apps.execution.models import AIModel, TaskType

    task_type = TaskType.objects.create(slug="bench_echo", executor=TaskType.Executor.ECHO,
                                        risk_rated_at=timezone.now())  # rated: no review
    print(f"Part 1: {count} jobs or tasks per measurement, one burst worker process each (start-up included), "
          f"median of {rounds} alternating rounds")  # fmt: skip
    print(f"{'kind':8} {'(a) bare RQ':>34} {'(b) console':>42} {'b/a':>6}  target")
    for kind, bare_class, console_class, target in KINDS:
        rq_rates, console_rates = [], []
        for round_ in range(rounds):
            rq_rates.append(count / bare_rq_seconds(queue, count, bare_class))
            ai_model = AIModel.objects.create(name=f"bench-echo-{kind.replace(' ', '-')}-{round_}", provider="echo")
            console_rates.append(count / console_seconds(count, console_class, ai_model, task_type))
            queue.connection.flushdb()
        rq_rate, console_rate = median(rq_rates), median(console_rates)
        ratio = console_rate / rq_rate
        print(
            f"{kind:8} {bare_class.rsplit('.', 1)[1]:>14} {rq_rate:8.1f} jobs/s "
            f"{console_class.rsplit('.', 1)[1]:>18} {console_rate:8.1f} tasks/s {ratio:6.2f}  "
            f">= {target} {'met' if ratio >= target else 'NOT MET'}"
        )
        print(f"{'':8} rounds: bare {' '.join(f'{r:.1f}' for r in rq_rates)}; "
              f"console {' '.join(f'{r:.1f}' for r in console_rates)}", flush=True)  # fmt: skip


def pool_row(workers: int, model_seconds: float, task_type, ai_model) -> tuple[float, float, float, float]:
    """An `rqworker-pool` of `workers` processes on 8 tasks per process: tasks/s from the first task's start to
    the last one's end (the pool's start-up left out: this is the rate it sustains), and the median RSS of a
    worker process and USS (pages no other process shares) of a worker process and of its work horse, in MiB,
    sampled while they work."""
    from django.db.models import Max, Min

    from apps.execution.models import ExecutionTask
    from apps.execution.services import tasks_create_many

    count = 8 * workers
    samples: list[tuple[float, float, float]] = []
    tasks_create_many(task_type=task_type, ai_model=ai_model, payloads=[{"prompt": f"#{n}"} for n in range(count)])
    pool = manage("rqworker-pool", "--burst", "--num-workers", str(workers), "default")
    stop = threading.Event()

    def sample() -> None:
        parent = psutil.Process(pool.pid)
        while not stop.wait(2 * model_seconds):  # reading smaps costs CPU the workers need: a few, now and then
            try:
                for worker in parent.children()[:4]:  # the pool's workers; their horses come and go, one per task
                    worker_memory = worker.memory_full_info()
                    for horse in worker.children():
                        samples.append((worker_memory.rss, worker_memory.uss, horse.memory_full_info().uss))
            except psutil.Error:
                pass

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        if (code := pool.wait()) != 0:
            raise SystemExit(f"rqworker-pool exited with {code}")
    finally:
        stop.set()
        sampler.join()
    tasks_check(count, ai_model.name)
    span = ExecutionTask.objects.filter(ai_model=ai_model).aggregate(first=Min("started_at"), last=Max("finished_at"))
    seconds = (span["last"] - span["first"]).total_seconds()
    rss, worker_uss, horse_uss = ([median(s[i] for s in samples) / 2**20 for i in range(3)] if samples
                                  else [float("nan")] * 3)  # fmt: skip
    return count / seconds, rss, worker_uss, horse_uss


def pool_table(queue, sizes: list[int], model_seconds: float) -> None:
    from django.utils import timezone

    from apps.execution.models import AIModel, TaskType
    from tests.fakes.chat_completions import ChatCompletionsServer, Reply

    server = ChatCompletionsServer(replies=[Reply(delay_seconds=model_seconds)]).start()
    task_type = TaskType.objects.create(slug="bench_model", executor=TaskType.Executor.OPENAI_COMPATIBLE,
                                        risk_rated_at=timezone.now())
    print(f"\nPart 2: model calls of {model_seconds:g} s, `rqworker-pool --num-workers N` (8 tasks per process)")
    header = f"{'N':>3} {'tasks/s':>8} {'ideal':>6} {'of ideal':>8} {'worker RSS':>11} {'worker USS':>11}"
    print(f"{header} {'horse USS':>10}")
    try:
        for workers in sizes:
            ai_model = AIModel.objects.create(
                name=f"bench-model-{workers}", provider=AIModel.Provider.OPENAI_COMPATIBLE, base_url=server.base_url,
                endpoint_approved_at=timezone.now(),
            )  # fmt: skip
            rate, rss, worker_uss, horse_uss = pool_row(workers, model_seconds, task_type, ai_model)
            ideal = workers / model_seconds
            print(
                f"{workers:>3} {rate:8.2f} {ideal:6.1f} {rate / ideal:8.0%} {rss:7.0f} MiB {worker_uss:7.0f} MiB "
                f"{horse_uss:6.0f} MiB"
            )
            queue.connection.flushdb()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per figure in part 1 (median)")
    parser.add_argument("--pool", default="1,4,16,64", help="worker pool sizes for part 2; empty to skip it")
    parser.add_argument("--model-seconds", type=float, default=1.0)
    options = parser.parse_args()

    database_url = scratch_django_setup()
    import django_rq
    from django.core.management import call_command

    try:
        call_command("migrate", verbosity=0)
        queue = django_rq.get_queue("default")
        queue.connection.flushdb()
        from django.db import connections

        connections.close_all()  # the workers are other processes; this one only creates and counts
        print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB")
        throughput_table(queue, options.tasks, options.rounds)
        if options.pool:
            pool_table(queue, [int(size) for size in options.pool.split(",")], options.model_seconds)
    finally:
        from django.db import connections

        connections.close_all()
        django_rq.get_queue("default").connection.flushdb()
        database_recreate(database_url, drop_only=True)


if __name__ == "__main__":
    main()
