"""Time of the ROI page's query at 10k and at 1M tasks (with as many income rows), measured in the same run.

    .venv/bin/python -m opsconsole.devservers exec -- .venv/bin/python bench/roi.py [--small 10000 --large 1000000]

For each size: tasks over the last 365 days on 4 models x 4 task types, each with a payment row in the ledger,
bulk-loaded in SQL with triggers off and then `rollups_rebuild()` (what `rollups_rebuild` runs); then the
median of 7 runs of `roi_by_model_and_type` over the whole year, and for contrast the same figures summed
straight from the tables. Prints both times per size and large/small (target: at most 3).
Uses a scratch database (`<name>_bench`, dropped at the end); runs with production settings (DEBUG off).
"""

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.execution import database_recreate, scratch_django_setup  # noqa: E402

MODELS = ["bench-alpha", "bench-beta", "bench-gamma", "bench-delta"]
LOAD_SQL = [  # one statement each: psycopg sends parameters with one statement at a time
    "SET session_replication_role = replica",  # no triggers while bulk loading; the rollups are rebuilt after
    """
INSERT INTO execution_tasks (task_type_id, ai_model, status, priority, payload, error, attempts, created_at,
                             started_at, finished_at, duration_ms, cost, rq_job_id, cancel_requested)
SELECT (%(type_ids)s::bigint[])[1 + g %% 4], (%(models)s::text[])[1 + (g / 4) %% 4],
       CASE WHEN g %% 10 = 0 THEN 'failed' ELSE 'succeeded' END, 0, '{}', '', 1, at, at, at, 1000,
       CASE WHEN g %% 10 = 0 THEN NULL ELSE round((random() * 2)::numeric, 6) END, '', false
FROM generate_series(1, %(count)s) g, LATERAL (SELECT now() - (g %% 365) * interval '1 day' AS at) t
""",
    """
INSERT INTO income_events (kind, amount, currency, occurred_at, stripe_event_id, stripe_object_id,
                           payment_intent_id, metadata, reason, created_at, ai_model, task_id, task_type_id)
SELECT 'payment', round((1 + random() * 100)::numeric, 2), 'usd', finished_at, 'evt_bench_' || id,
       'pi_bench_' || id, 'pi_bench_' || id, '{}', '', now(), ai_model, id, task_type_id
FROM execution_tasks
""",
    "SET session_replication_role = origin",
]
DIRECT_SQL = """
SELECT t.ai_model, t.task_type_id, t.run, t.cost, i.income FROM
  (SELECT ai_model, task_type_id, count(*) run, sum(cost) cost FROM execution_tasks
   WHERE finished_at >= %(since)s AND finished_at < %(until)s AND attempts > 0 GROUP BY 1, 2) t
  LEFT JOIN (SELECT ai_model, task_type_id, sum(amount) income FROM income_events
   WHERE occurred_at >= %(since)s AND occurred_at < %(until)s AND currency = 'usd' GROUP BY 1, 2) i
  USING (ai_model, task_type_id)
"""


def median_seconds(call, runs: int = 7) -> float:
    call()  # warm the caches once, as a page view after the first would find them
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(count: int) -> tuple[float, float]:
    from django.db import connection
    from django.utils import timezone

    from apps.execution.models import TaskType
    from apps.income.rebuild import rollups_rebuild
    from apps.income.selectors import roi_by_model_and_type

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE execution_tasks, income_events, income_task_rollup, income_rollup, income_settlement_daily "
            "CASCADE"
        )
        type_ids = list(TaskType.objects.order_by("pk").values_list("pk", flat=True)[:4])
        started = time.perf_counter()
        for statement in LOAD_SQL:
            cursor.execute(statement, {"type_ids": type_ids, "models": MODELS, "count": count})
        rollups_rebuild()
        cursor.execute("VACUUM ANALYZE execution_tasks")
        cursor.execute("VACUUM ANALYZE income_events")
        load_seconds = time.perf_counter() - started
    today = timezone.now().date()
    since, until = today - timedelta(days=366), today + timedelta(days=1)
    report = roi_by_model_and_type(since=since, until=until, currency="usd")
    assert report.total.tasks_run == count, (report.total.tasks_run, count)

    def direct():
        with connection.cursor() as cursor:
            cursor.execute(DIRECT_SQL, {"since": since, "until": until})
            return cursor.fetchall()

    page = median_seconds(lambda: roi_by_model_and_type(since=since, until=until, currency="usd"))
    scan = median_seconds(direct, runs=3)
    print(f"{count:>9} tasks + {count} income rows (loaded in {load_seconds:.1f} s): "
          f"ROI from rollups {page * 1000:8.2f} ms, summed from the tables {scan * 1000:9.2f} ms")  # fmt: skip
    return page, scan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    options = parser.parse_args()

    database_url = scratch_django_setup()
    from django.core.management import call_command
    from django.db import connections

    try:
        call_command("migrate", verbosity=0)
        from apps.execution.models import AIModel

        AIModel.objects.bulk_create([AIModel(name=name, provider=AIModel.Provider.ECHO) for name in MODELS])
        small_page, small_scan = measure(options.small)
        large_page, large_scan = measure(options.large)
        print(f"ratio large/small, ROI from rollups:    {large_page / small_page:8.2f}   (target <= 3)")
        print(f"ratio large/small, summed from tables:  {large_scan / small_scan:8.2f}   (for contrast)")
    finally:
        connections.close_all()
        database_recreate(database_url, drop_only=True)


if __name__ == "__main__":
    main()
