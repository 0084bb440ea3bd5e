"""The hourly and daily rollups equal a direct SQL aggregate of the raw tasks and income rows: counts and sums
exactly, p95 within one histogram bucket (also when rows are merged across hours and models), as the triggers keep
them, after `manage.py rollups_rebuild`, and after new events arrive. The rebuild is idempotent and resumable."""

import io
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection

from apps.execution.models import ExecutionTask, TaskType
from apps.income.models import IncomeRollup, RollupRebuild, TaskRollup
from apps.income.rebuild import rollups_rebuild
from apps.income.rollups import bucket_of_ms, bucket_upper_ms, hist_merge, hist_percentile
from apps.income.services import income_record_manual
from tests.execution.factories import AIModelFactory

pytestmark = pytest.mark.django_db
START = datetime(2026, 11, 2, 21, 0, tzinfo=UTC)  # three UTC days, crossing midnights

TASK_SQL = """
SELECT date_trunc(%(grain)s, finished_at, 'UTC'), ai_model, task_type_id, count(*),
       count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
       sum(attempts - 1), count(duration_ms), COALESCE(sum(duration_ms), 0), COALESCE(sum(input_tokens), 0),
       COALESCE(sum(output_tokens), 0), COALESCE(sum(cost), 0), count(*) FILTER (WHERE cost IS NULL),
       percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms), max(duration_ms)
FROM execution_tasks WHERE finished_at IS NOT NULL AND attempts > 0 GROUP BY 1, 2, 3
"""
INCOME_SQL = """
SELECT date_trunc(%(grain)s, occurred_at, 'UTC'), currency, ai_model, task_type_id, sum(amount), count(*)
FROM income_events GROUP BY 1, 2, 3, 4
"""


def tasks_load(rng: random.Random, count: int, models: list[str], types: list[TaskType]) -> list[ExecutionTask]:
    tasks = []
    for _ in range(count):
        status = rng.choice(["succeeded"] * 6 + ["failed", "cancelled", "queued"])
        finished = None if status == "queued" else START + timedelta(minutes=rng.randint(0, 72 * 60))
        tasks.append(ExecutionTask(
            task_type=rng.choice(types), ai_model_id=rng.choice(models), status=status, payload={},
            attempts=0 if status == "queued" else rng.choice([1, 1, 1, 2, 3]), finished_at=finished,
            duration_ms=rng.choice([None] + [int(rng.lognormvariate(7.5, 1.2)) for _ in range(9)]),
            input_tokens=rng.choice([None, rng.randint(100, 5000)]),
            output_tokens=rng.choice([None, rng.randint(1, 900)]),
            cost=rng.choice([None, Decimal(rng.randint(1, 900_000)) / 1_000_000]),
        ))  # fmt: skip
    return ExecutionTask.objects.bulk_create(tasks)


def income_load(rng: random.Random, count: int, tasks: list[ExecutionTask]) -> None:
    for n in range(count):
        income_record_manual(amount=Decimal(rng.randint(-2000, 90000)) / 100 or Decimal("1"),
                             currency=rng.choice(["usd", "usd", "eur"]),
                             occurred_at=START + timedelta(minutes=rng.randint(0, 72 * 60)), reason=f"row {n}",
                             actor=None, task=rng.choice([None, *tasks[:50]]))  # fmt: skip


def assert_rollups_equal_raw() -> None:
    for grain in ("hour", "day"):
        with connection.cursor() as cursor:
            cursor.execute(TASK_SQL, {"grain": grain})
            raw = {row[:3]: row[3:] for row in cursor.fetchall()}
            cursor.execute(INCOME_SQL, {"grain": grain})
            raw_income = {row[:4]: row[4:] for row in cursor.fetchall()}
        rolled = {(r.period, r.ai_model, r.task_type_id): r for r in TaskRollup.objects.filter(grain=grain) if r.runs}
        assert set(rolled) == set(raw), grain
        for key, (runs, ok, failed, retries, timed, ms, tokens_in, tokens_out, cost, unknown, p95, _) in raw.items():
            row = rolled[key]
            assert (row.runs, row.successes, row.failures, row.retries, row.duration_count, row.duration_sum_ms,
                    row.input_tokens, row.output_tokens, row.cost, row.cost_unknown) == (
                runs, ok, failed, retries, timed, ms, tokens_in, tokens_out, cost, unknown), (grain, key)  # fmt: skip
            assert sum(row.duration_hist) == timed
            if p95 is not None:
                assert within_one_bucket(hist_percentile(row.duration_hist, 0.95, max_ms=row.duration_max_ms), p95)
        income = {(r.period, r.currency, r.ai_model, r.task_type_id): (r.amount, r.events)
                  for r in IncomeRollup.objects.filter(grain=grain) if r.events}  # fmt: skip
        assert income == raw_income, grain


def within_one_bucket(estimate: float, exact: int) -> bool:
    """The estimate is the upper end of the bucket that holds the exact value (or the highest value seen)."""
    return exact <= estimate <= bucket_upper_ms(bucket_of_ms(exact))


def merged_p95_matches(where: str, params: list, rows) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms), max(duration_ms) "
            f"FROM execution_tasks WHERE finished_at IS NOT NULL AND attempts > 0 AND {where}",
            params,
        )  # noqa: S608
        exact, highest = cursor.fetchone()
    merged = hist_merge(row.duration_hist for row in rows)
    assert within_one_bucket(hist_percentile(merged, 0.95, max_ms=highest), exact)


@pytest.fixture
def loaded(operator):
    rng = random.Random(18)  # noqa: S311 - a reproducible load
    models = [AIModelFactory(name=name).name for name in ("alpha", "beta", "gamma")]
    types = list(TaskType.objects.filter(slug__in=["implement_idea", "self_improvement"]))
    tasks = tasks_load(rng, 600, models, types)
    income_load(rng, 60, tasks)
    return rng, models, types, tasks


def test_rollups_equal_sql_aggregates_kept_by_triggers_rebuilt_and_after_new_events(loaded):
    rng, models, types, tasks = loaded
    assert_rollups_equal_raw()  # as the triggers kept them

    # percentiles merge: p95 over all hours of one model, and over everything, from the hour rows' buckets
    merged_p95_matches("ai_model = %s", ["alpha"], TaskRollup.objects.filter(grain="hour", ai_model="alpha"))
    merged_p95_matches("true", [], TaskRollup.objects.filter(grain="hour"))

    before = sorted(TaskRollup.objects.filter(runs__gt=0).values_list("grain", "period", "ai_model", "task_type_id",
                                                                         "runs", "duration_hist", "cost"))  # fmt: skip
    TaskRollup.objects.all().update(runs=0, cost=0)  # damage them: the rebuild recomputes from the raw rows
    out = io.StringIO()
    call_command("rollups_rebuild", stdout=out)
    assert "rollups rebuilt: 4 days, 2026-11-02 to 2026-11-05" in out.getvalue()
    assert "[##############################] 4/4 days" in out.getvalue()  # the progress bar's last state
    assert_rollups_equal_raw()
    call_command("rollups_rebuild", stdout=io.StringIO())  # again: the same rows
    after = sorted(TaskRollup.objects.filter(runs__gt=0).values_list("grain", "period", "ai_model", "task_type_id",
                                                                        "runs", "duration_hist", "cost"))  # fmt: skip
    assert after == before

    # new events: retries take finished tasks back, waiting tasks finish, costs change, rows move and go
    finished = [task for task in tasks if task.finished_at]
    for task in rng.sample(finished, 40):
        ExecutionTask.objects.filter(pk=task.pk).update(status="queued", finished_at=None)
    for task in [task for task in tasks if not task.finished_at][:30]:
        ExecutionTask.objects.filter(pk=task.pk).update(
            status="succeeded", attempts=2, finished_at=START + timedelta(hours=50), duration_ms=123_456
        )
    for task in rng.sample(finished, 30):
        ExecutionTask.objects.filter(pk=task.pk).update(cost=Decimal("0.5"), ai_model_id=rng.choice(models),
                                                        duration_ms=rng.randint(1, 10**6))  # fmt: skip
    ExecutionTask.objects.filter(pk__in=[task.pk for task in tasks[-10:]], income=None).delete()
    income_load(rng, 10, tasks)
    assert_rollups_equal_raw()


def test_a_stopped_rebuild_resumes_where_it_stopped(loaded):
    class Stop(Exception):
        pass

    def stop_after_two_days(run):
        if run.days_done == 2:
            raise Stop

    TaskRollup.objects.all().delete()
    with pytest.raises(Stop):
        rollups_rebuild(progress=stop_after_two_days)
    run = RollupRebuild.objects.get()
    assert (run.days_done, run.next_day.isoformat(), run.finished_at) == (2, "2026-11-04", None)
    assert not TaskRollup.objects.filter(period__gte=datetime(2026, 11, 4, tzinfo=UTC)).exists()  # not reached

    out = io.StringIO()
    call_command("rollups_rebuild", "--resume", stdout=out)
    run.refresh_from_db()
    assert run.days_done == 4 and run.finished_at is not None and RollupRebuild.objects.count() == 1
    assert_rollups_equal_raw()


def test_rebuild_with_nothing_to_roll_up_says_so():
    out = io.StringIO()
    call_command("rollups_rebuild", stdout=out)
    assert out.getvalue().strip() == "nothing to roll up: no finished tasks, income or rollup rows"
