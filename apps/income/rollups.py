"""Hourly and daily rollups of finished tasks and income, kept exact by PostgreSQL triggers: every insert, update
or delete of a finished task or an income row adds its difference to one hour row and one day row, in the same
transaction. ROI, the dashboard, drift alerts and /metrics then read (periods x models x task types) rows however
many tasks there are. This is the console's one rollup design.

Durations are counted per histogram bucket: bucket k (1-based) holds the runs whose `duration_ms + 1` lies in
[GROWTH^(k-1), GROWTH^k), the last bucket everything above. Buckets add up across rows (`rollup_hist_add`, the
aggregate `rollup_hist_sum`), so a p95 over any hours, models and types is exact to one bucket (25 %).

`TRIGGERS_SQL` declares the triggers the database must have: migration 0009 installed a copy of it, and
tests/income/test_rollup_triggers.py checks that the database's functions match it, so a change here needs a new
migration that installs the new text. `rebuild.rollups_rebuild` recomputes the tables a UTC day at a time
(recovery, bulk loads), resumable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

DURATION_BUCKETS = 100
DURATION_GROWTH = 1.25

TRIGGERS_SQL = """
CREATE OR REPLACE FUNCTION rollup_duration_bucket(ms bigint) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN ms IS NULL THEN NULL ELSE least(100, 1 + floor(ln(ms + 1) / ln(1.25))::integer) END
$$;

CREATE OR REPLACE FUNCTION rollup_hist_one(bucket integer, n integer) RETURNS integer[] LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(CASE WHEN i = bucket THEN n ELSE 0 END ORDER BY i) FROM generate_series(1, 100) AS i
$$;

CREATE OR REPLACE FUNCTION rollup_hist_add(a integer[], b integer[]) RETURNS integer[] LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(COALESCE(x, 0) + COALESCE(y, 0) ORDER BY i) FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i)
$$;

CREATE OR REPLACE FUNCTION rollup_hist_from(buckets integer[], counts bigint[]) RETURNS integer[] LANGUAGE sql
IMMUTABLE AS $$
    SELECT array_agg(COALESCE((SELECT sum(n) FROM unnest(buckets, counts) AS u(k, n) WHERE k = i), 0)::integer
                     ORDER BY i)
    FROM generate_series(1, 100) AS i
$$;

CREATE OR REPLACE AGGREGATE rollup_hist_sum(integer[]) (SFUNC = rollup_hist_add, STYPE = integer[], INITCOND = '{}');

CREATE OR REPLACE FUNCTION income_task_rollup_add(t execution_tasks, sign integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO income_task_rollup AS r (grain, period, ai_model, task_type_id, runs, successes, failures, retries,
        duration_count, duration_sum_ms, duration_max_ms, duration_hist, input_tokens, output_tokens, cost,
        cost_unknown)
    SELECT g.grain, date_trunc(g.grain, t.finished_at, 'UTC'), t.ai_model, t.task_type_id, sign,
           sign * (t.status = 'succeeded')::int, sign * (t.status = 'failed')::int,
           sign * greatest(t.attempts - 1, 0), sign * (t.duration_ms IS NOT NULL)::int,
           sign * COALESCE(t.duration_ms, 0), COALESCE(t.duration_ms, 0),
           rollup_hist_one(rollup_duration_bucket(t.duration_ms), sign), sign * COALESCE(t.input_tokens, 0),
           sign * COALESCE(t.output_tokens, 0), sign * COALESCE(t.cost, 0), sign * (t.cost IS NULL)::int
    FROM (VALUES ('hour'), ('day')) AS g(grain)
    ON CONFLICT (grain, period, ai_model, task_type_id) DO UPDATE SET
        runs = r.runs + EXCLUDED.runs,
        successes = r.successes + EXCLUDED.successes,
        failures = r.failures + EXCLUDED.failures,
        retries = r.retries + EXCLUDED.retries,
        duration_count = r.duration_count + EXCLUDED.duration_count,
        duration_sum_ms = r.duration_sum_ms + EXCLUDED.duration_sum_ms,
        duration_max_ms = greatest(r.duration_max_ms, EXCLUDED.duration_max_ms),
        duration_hist = rollup_hist_add(r.duration_hist, EXCLUDED.duration_hist),
        input_tokens = r.input_tokens + EXCLUDED.input_tokens,
        output_tokens = r.output_tokens + EXCLUDED.output_tokens,
        cost = r.cost + EXCLUDED.cost,
        cost_unknown = r.cost_unknown + EXCLUDED.cost_unknown
$$;

CREATE OR REPLACE FUNCTION income_task_rollup_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.finished_at IS NOT NULL AND OLD.attempts > 0 THEN
        PERFORM income_task_rollup_add(OLD, -1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.finished_at IS NOT NULL AND NEW.attempts > 0 THEN
        PERFORM income_task_rollup_add(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER income_task_rollup_insert AFTER INSERT ON execution_tasks
    FOR EACH ROW WHEN (NEW.finished_at IS NOT NULL) EXECUTE FUNCTION income_task_rollup_sync();
CREATE OR REPLACE TRIGGER income_task_rollup_update
    AFTER UPDATE OF status, cost, finished_at, attempts, ai_model, task_type_id, duration_ms, input_tokens,
        output_tokens ON execution_tasks
    FOR EACH ROW WHEN (OLD.finished_at IS NOT NULL OR NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION income_task_rollup_sync();
CREATE OR REPLACE TRIGGER income_task_rollup_delete AFTER DELETE ON execution_tasks
    FOR EACH ROW WHEN (OLD.finished_at IS NOT NULL) EXECUTE FUNCTION income_task_rollup_sync();

CREATE OR REPLACE FUNCTION income_rollup_add(e income_events, sign integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO income_rollup AS r (grain, period, currency, ai_model, task_type_id, amount, net, fee_unknown, events)
    SELECT g.grain, date_trunc(g.grain, e.occurred_at, 'UTC'), e.currency, e.ai_model, e.task_type_id,
           sign * e.amount, sign * (e.amount - COALESCE(e.fee / COALESCE(e.exchange_rate, 1), 0)),
           sign * (e.kind <> 'manual' AND e.fee IS NULL AND e.settlement_note NOT LIKE 'none: %')::int, sign
    FROM (VALUES ('hour'), ('day')) AS g(grain)
    ON CONFLICT ON CONSTRAINT income_rollup_key DO UPDATE SET
        amount = r.amount + EXCLUDED.amount,
        net = r.net + EXCLUDED.net,
        fee_unknown = r.fee_unknown + EXCLUDED.fee_unknown,
        events = r.events + EXCLUDED.events
$$;

CREATE OR REPLACE FUNCTION income_settlement_daily_add(e income_events, sign integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO income_settlement_daily AS r (day, settlement_currency, ai_model, task_type_id, gross, fee, net, events)
    SELECT (e.occurred_at AT TIME ZONE 'UTC')::date, e.settlement_currency, e.ai_model, e.task_type_id,
           sign * e.settlement_amount, sign * e.fee, sign * e.net, sign
    WHERE e.settlement_currency <> ''
    ON CONFLICT ON CONSTRAINT income_settlement_daily_key DO UPDATE SET
        gross = r.gross + EXCLUDED.gross,
        fee = r.fee + EXCLUDED.fee,
        net = r.net + EXCLUDED.net,
        events = r.events + EXCLUDED.events
$$;

CREATE OR REPLACE FUNCTION income_rollup_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM income_rollup_add(OLD, -1);
        PERFORM income_settlement_daily_add(OLD, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM income_rollup_add(NEW, 1);
        PERFORM income_settlement_daily_add(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER income_rollup_change
    AFTER INSERT OR DELETE OR UPDATE OF amount, currency, occurred_at, ai_model, task_type_id, fee, net,
        exchange_rate, settlement_amount, settlement_currency, settlement_note ON income_events
    FOR EACH ROW EXECUTE FUNCTION income_rollup_sync();
"""

# What TRIGGERS_SQL installs, as check_schema verifies it: (table, trigger, trigger function), helper functions.
# Three of the triggers are on execution's table: execution_tasks rows feed the task rollup.
ROLLUP_TRIGGERS = (
    ("execution_tasks", "income_task_rollup_insert", "income_task_rollup_sync"),
    ("execution_tasks", "income_task_rollup_update", "income_task_rollup_sync"),
    ("execution_tasks", "income_task_rollup_delete", "income_task_rollup_sync"),
    ("income_events", "income_rollup_change", "income_rollup_sync"),
)
ROLLUP_FUNCTIONS = (
    "rollup_duration_bucket", "rollup_hist_one", "rollup_hist_add", "rollup_hist_from", "rollup_hist_sum",
    "income_task_rollup_add", "income_rollup_add", "income_settlement_daily_add",
)  # fmt: skip

# One UTC day [%(start)s, %(end)s): its hour rows from the raw rows, its day row from its hour rows.
REBUILD_DAY_SQL = """
LOCK TABLE execution_tasks, income_events IN SHARE MODE;
DELETE FROM income_task_rollup WHERE period >= %(start)s AND period < %(end)s;
INSERT INTO income_task_rollup (grain, period, ai_model, task_type_id, runs, successes, failures, retries,
    duration_count, duration_sum_ms, duration_max_ms, duration_hist, input_tokens, output_tokens, cost, cost_unknown)
SELECT 'hour', period, ai_model, task_type_id, sum(runs), sum(successes), sum(failures), sum(retries),
       sum(timed), sum(duration_sum), COALESCE(max(duration_max), 0),
       rollup_hist_from(array_agg(bucket) FILTER (WHERE bucket IS NOT NULL),
                        array_agg(timed) FILTER (WHERE bucket IS NOT NULL)),
       sum(input_tokens), sum(output_tokens), sum(cost), sum(cost_unknown)
FROM (
    SELECT date_trunc('hour', finished_at, 'UTC') AS period, ai_model, task_type_id,
           rollup_duration_bucket(duration_ms) AS bucket, count(*) AS runs,
           count(*) FILTER (WHERE status = 'succeeded') AS successes,
           count(*) FILTER (WHERE status = 'failed') AS failures, sum(greatest(attempts - 1, 0)) AS retries,
           count(duration_ms) AS timed, COALESCE(sum(duration_ms), 0) AS duration_sum, max(duration_ms) AS duration_max,
           COALESCE(sum(input_tokens), 0) AS input_tokens, COALESCE(sum(output_tokens), 0) AS output_tokens,
           COALESCE(sum(cost), 0) AS cost, count(*) FILTER (WHERE cost IS NULL) AS cost_unknown
    FROM execution_tasks
    WHERE finished_at >= %(start)s AND finished_at < %(end)s AND attempts > 0
    GROUP BY 1, 2, 3, 4
) AS by_bucket
GROUP BY period, ai_model, task_type_id;
INSERT INTO income_task_rollup (grain, period, ai_model, task_type_id, runs, successes, failures, retries,
    duration_count, duration_sum_ms, duration_max_ms, duration_hist, input_tokens, output_tokens, cost, cost_unknown)
SELECT 'day', %(start)s, ai_model, task_type_id, sum(runs), sum(successes), sum(failures), sum(retries),
       sum(duration_count), sum(duration_sum_ms), max(duration_max_ms), rollup_hist_sum(duration_hist),
       sum(input_tokens), sum(output_tokens), sum(cost), sum(cost_unknown)
FROM income_task_rollup WHERE grain = 'hour' AND period >= %(start)s AND period < %(end)s
GROUP BY ai_model, task_type_id;
DELETE FROM income_rollup WHERE period >= %(start)s AND period < %(end)s;
INSERT INTO income_rollup (grain, period, currency, ai_model, task_type_id, amount, net, fee_unknown, events)
SELECT g.grain, date_trunc(g.grain, occurred_at, 'UTC'), currency, ai_model, task_type_id, sum(amount),
       sum(amount - COALESCE(fee / COALESCE(exchange_rate, 1), 0)),
       count(*) FILTER (WHERE kind <> 'manual' AND fee IS NULL AND settlement_note NOT LIKE 'none: %%'), count(*)
FROM income_events, (VALUES ('hour'), ('day')) AS g(grain)
WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
GROUP BY 1, 2, 3, 4, 5;
DELETE FROM income_settlement_daily WHERE day = %(day)s;
INSERT INTO income_settlement_daily (day, settlement_currency, ai_model, task_type_id, gross, fee, net, events)
SELECT %(day)s, settlement_currency, ai_model, task_type_id, sum(settlement_amount), sum(fee), sum(net), count(*)
FROM income_events
WHERE occurred_at >= %(start)s AND occurred_at < %(end)s AND settlement_currency <> ''
GROUP BY 2, 3, 4;
"""

# The days a rebuild covers: every day with a finished task, an income row or a rollup row (stale ones go too).
RANGE_SQL = """
SELECT min(d), max(d) FROM (
    SELECT (min(finished_at) AT TIME ZONE 'UTC')::date, (max(finished_at) AT TIME ZONE 'UTC')::date
        FROM execution_tasks WHERE finished_at IS NOT NULL
    UNION ALL SELECT (min(occurred_at) AT TIME ZONE 'UTC')::date, (max(occurred_at) AT TIME ZONE 'UTC')::date
        FROM income_events
    UNION ALL SELECT (min(period) AT TIME ZONE 'UTC')::date, (max(period) AT TIME ZONE 'UTC')::date
        FROM income_task_rollup
    UNION ALL SELECT (min(period) AT TIME ZONE 'UTC')::date, (max(period) AT TIME ZONE 'UTC')::date FROM income_rollup
    UNION ALL SELECT min(day), max(day) FROM income_settlement_daily
) AS bounds(low, high), LATERAL (VALUES (low), (high)) AS v(d)
"""


def bucket_upper_ms(bucket: int) -> float:
    """The highest duration bucket `bucket` holds (1-based); the last bucket has no upper end."""
    return math.inf if bucket >= DURATION_BUCKETS else DURATION_GROWTH**bucket - 1


def bucket_of_ms(duration_ms: int) -> int:
    """The bucket a duration falls in, as `rollup_duration_bucket` computes it in the database."""
    return min(DURATION_BUCKETS, 1 + math.floor(math.log(duration_ms + 1) / math.log(DURATION_GROWTH)))


def hist_merge(hists: Iterable[Sequence[int] | None]) -> list[int]:
    merged = [0] * DURATION_BUCKETS
    for hist in hists:
        for index, count in enumerate(hist or ()):
            merged[index] += count
    return merged


def hist_percentile(hist: Sequence[int], quantile: float, *, max_ms: float | None = None) -> float | None:
    """The duration (ms) below which `quantile` of the runs fall, as the upper end of the bucket that holds it
    (capped by the highest duration seen); None without runs."""
    total = sum(hist)
    if total <= 0:
        return None
    rank = math.ceil(quantile * total)
    seen = 0
    for index, count in enumerate(hist):
        seen += count
        if seen >= rank:
            upper = bucket_upper_ms(index + 1)
            return min(upper, max_ms) if max_ms else upper
    return max_ms
