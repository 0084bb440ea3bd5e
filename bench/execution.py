"""Throughput of the execution engine against bare RQ, measured in the same run on the same servers.

    .venv/bin/python -m opsconsole.devservers exec -- .venv/bin/python bench/execution.py [--tasks 2000]

(a) bare RQ: N no-op jobs, enqueued in one pipeline, run by one burst `rqworker` process;
(b) console: N `echo` tasks created in bulk, enqueued, run by one burst `rqworker` process until all are
    `succeeded` with their four events. Prints both rates and b/a (targets: at least 0.8 with the worker class
    README recommends for production, at least 0.6 with the other; not met yet, see README).
Uses a scratch database (`<name>_bench`, dropped at the end) and Redis database 14, flushed; runs with
production settings (DEBUG off).
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


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


def burst_worker_seconds(worker_class: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "rqworker", "--burst", "--worker-class", worker_class, "default"],
        cwd=ROOT, env=os.environ, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--worker-class", default="rq.worker.Worker", help="e.g. rq.worker.SimpleWorker")
    options = parser.parse_args()
    count, worker_class = options.tasks, options.worker_class

    database_url = scratch_django_setup()
    import django_rq
    from django.core.management import call_command

    from apps.execution.models import AIModel, ExecutionEvent, ExecutionTask, TaskType
    from apps.execution.services import tasks_create_many

    try:
        call_command("migrate", verbosity=0)
        queue = django_rq.get_queue("default")
        queue.connection.flushdb()

        with queue.connection.pipeline() as pipeline:
            queue.enqueue_many([queue.prepare_data("bench.jobs.noop") for _ in range(count)], pipeline=pipeline)
            pipeline.execute()
        rq_seconds = burst_worker_seconds(worker_class)
        queue.connection.flushdb()

        ai_model = AIModel.objects.create(name="bench-echo", provider=AIModel.Provider.ECHO)
        task_type = TaskType.objects.create(slug="bench_echo", executor=TaskType.Executor.ECHO)
        started = time.perf_counter()
        tasks_create_many(task_type=task_type, ai_model=ai_model, payloads=[{"n": n} for n in range(count)])
        created_seconds = time.perf_counter() - started
        console_seconds = created_seconds + burst_worker_seconds(worker_class)

        succeeded = ExecutionTask.objects.filter(status="succeeded").count()
        events = ExecutionEvent.objects.filter(ai_model="bench-echo").count()
        assert succeeded == count, f"only {succeeded} of {count} tasks succeeded"
        assert events == 4 * count, f"{events} events for {count} tasks, expected {4 * count}"

        rq_rate, console_rate = count / rq_seconds, count / console_seconds
        print(f"tasks: {count}, one burst {worker_class} each (worker start-up included in both)")
        print(f"(a) bare RQ no-op jobs:    {rq_rate:8.1f} jobs/s  ({rq_seconds:.2f} s)")
        print(
            f"(b) console echo tasks:    {console_rate:8.1f} tasks/s ({console_seconds:.2f} s, "
            f"{created_seconds:.2f} s of it to create and enqueue)"
        )
        print(f"ratio b/a:                 {console_rate / rq_rate:8.2f}   (targets: 0.8 recommended class, 0.6 other)")
    finally:
        from django.db import connections

        connections.close_all()
        django_rq.get_queue("default").connection.flushdb()
        database_recreate(database_url, drop_only=True)


if __name__ == "__main__":
    main()
