"""Issue 18: one rollup design for ROI, the dashboard, drift and /metrics. The daily task and income rollups become
hourly and daily rows (`grain`) with runs, failures, retries, tokens and a duration histogram; their triggers are
replaced and the new tables filled from the raw rows. Going back restores the daily tables, their triggers and
their contents.

The SQL is copied here as it was when this migration was written, so that the migration never changes with the
code (apps/income/rollups.py declares the current text; tests/income/test_rollup_triggers.py compares).
"""

import django.contrib.postgres.fields
import django.db.models.deletion
from decimal import Decimal
from django.db import migrations, models

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

BACKFILL_SQL = """
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
    FROM execution_tasks WHERE finished_at IS NOT NULL AND attempts > 0
    GROUP BY 1, 2, 3, 4
) AS by_bucket
GROUP BY period, ai_model, task_type_id;
INSERT INTO income_task_rollup (grain, period, ai_model, task_type_id, runs, successes, failures, retries,
    duration_count, duration_sum_ms, duration_max_ms, duration_hist, input_tokens, output_tokens, cost, cost_unknown)
SELECT 'day', date_trunc('day', period, 'UTC'), ai_model, task_type_id, sum(runs), sum(successes), sum(failures),
       sum(retries), sum(duration_count), sum(duration_sum_ms), max(duration_max_ms), rollup_hist_sum(duration_hist),
       sum(input_tokens), sum(output_tokens), sum(cost), sum(cost_unknown)
FROM income_task_rollup WHERE grain = 'hour' GROUP BY 2, 3, 4;
INSERT INTO income_rollup (grain, period, currency, ai_model, task_type_id, amount, net, fee_unknown, events)
SELECT g.grain, date_trunc(g.grain, occurred_at, 'UTC'), currency, ai_model, task_type_id, sum(amount),
       sum(amount - COALESCE(fee / COALESCE(exchange_rate, 1), 0)),
       count(*) FILTER (WHERE kind <> 'manual' AND fee IS NULL AND settlement_note NOT LIKE 'none: %'), count(*)
FROM income_events, (VALUES ('hour'), ('day')) AS g(grain)
GROUP BY 1, 2, 3, 4, 5;
"""

DROP_NEW_SQL = """
DROP TRIGGER income_task_rollup_insert ON execution_tasks;
DROP TRIGGER income_task_rollup_update ON execution_tasks;
DROP TRIGGER income_task_rollup_delete ON execution_tasks;
DROP TRIGGER income_rollup_change ON income_events;
DROP FUNCTION income_task_rollup_sync();
DROP FUNCTION income_task_rollup_add(execution_tasks, integer);
DROP FUNCTION income_rollup_sync();
DROP FUNCTION income_rollup_add(income_events, integer);
DROP AGGREGATE rollup_hist_sum(integer[]);
DROP FUNCTION rollup_hist_from(integer[], bigint[]);
DROP FUNCTION rollup_hist_add(integer[], integer[]);
DROP FUNCTION rollup_hist_one(integer, integer);
DROP FUNCTION rollup_duration_bucket(bigint);
"""

# The daily rollups as income 0007 left them, and how to fill them again.
PREVIOUS_TRIGGERS_SQL = """
CREATE OR REPLACE FUNCTION income_task_daily_add(t execution_tasks, sign integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO income_task_daily AS r (day, ai_model, task_type_id, tasks_run, tasks_succeeded, cost, cost_unknown)
    VALUES ((t.finished_at AT TIME ZONE 'UTC')::date, t.ai_model, t.task_type_id, sign,
            sign * (t.status = 'succeeded')::int, sign * COALESCE(t.cost, 0), sign * (t.cost IS NULL)::int)
    ON CONFLICT (day, ai_model, task_type_id) DO UPDATE SET
        tasks_run = r.tasks_run + EXCLUDED.tasks_run,
        tasks_succeeded = r.tasks_succeeded + EXCLUDED.tasks_succeeded,
        cost = r.cost + EXCLUDED.cost,
        cost_unknown = r.cost_unknown + EXCLUDED.cost_unknown
$$;

CREATE OR REPLACE FUNCTION income_task_daily_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.finished_at IS NOT NULL AND OLD.attempts > 0 THEN
        PERFORM income_task_daily_add(OLD, -1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.finished_at IS NOT NULL AND NEW.attempts > 0 THEN
        PERFORM income_task_daily_add(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER income_task_daily_insert AFTER INSERT ON execution_tasks
    FOR EACH ROW WHEN (NEW.finished_at IS NOT NULL) EXECUTE FUNCTION income_task_daily_sync();
CREATE OR REPLACE TRIGGER income_task_daily_update
    AFTER UPDATE OF status, cost, finished_at, attempts, ai_model, task_type_id ON execution_tasks
    FOR EACH ROW WHEN (OLD.finished_at IS NOT NULL OR NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION income_task_daily_sync();
CREATE OR REPLACE TRIGGER income_task_daily_delete AFTER DELETE ON execution_tasks
    FOR EACH ROW WHEN (OLD.finished_at IS NOT NULL) EXECUTE FUNCTION income_task_daily_sync();

CREATE OR REPLACE FUNCTION income_daily_add(e income_events, sign integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO income_daily AS r (day, currency, ai_model, task_type_id, amount, net, fee_unknown, events)
    VALUES ((e.occurred_at AT TIME ZONE 'UTC')::date, e.currency, e.ai_model, e.task_type_id, sign * e.amount,
            sign * (e.amount - COALESCE(e.fee / COALESCE(e.exchange_rate, 1), 0)),
            sign * (e.kind <> 'manual' AND e.fee IS NULL AND e.settlement_note NOT LIKE 'none: %')::int, sign)
    ON CONFLICT ON CONSTRAINT income_daily_key DO UPDATE SET
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

CREATE OR REPLACE FUNCTION income_daily_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM income_daily_add(OLD, -1);
        PERFORM income_settlement_daily_add(OLD, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM income_daily_add(NEW, 1);
        PERFORM income_settlement_daily_add(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER income_daily_change
    AFTER INSERT OR DELETE OR UPDATE OF amount, currency, occurred_at, ai_model, task_type_id, fee, net,
        exchange_rate, settlement_amount, settlement_currency, settlement_note ON income_events
    FOR EACH ROW EXECUTE FUNCTION income_daily_sync();
"""

PREVIOUS_BACKFILL_SQL = """
DELETE FROM income_task_daily;
INSERT INTO income_task_daily (day, ai_model, task_type_id, tasks_run, tasks_succeeded, cost, cost_unknown)
SELECT (finished_at AT TIME ZONE 'UTC')::date, ai_model, task_type_id, count(*),
       count(*) FILTER (WHERE status = 'succeeded'), COALESCE(sum(cost), 0), count(*) FILTER (WHERE cost IS NULL)
FROM execution_tasks WHERE finished_at IS NOT NULL AND attempts > 0 GROUP BY 1, 2, 3;
DELETE FROM income_daily;
INSERT INTO income_daily (day, currency, ai_model, task_type_id, amount, net, fee_unknown, events)
SELECT (occurred_at AT TIME ZONE 'UTC')::date, currency, ai_model, task_type_id, sum(amount),
       sum(amount - COALESCE(fee / COALESCE(exchange_rate, 1), 0)),
       count(*) FILTER (WHERE kind <> 'manual' AND fee IS NULL AND settlement_note NOT LIKE 'none: %'), count(*)
FROM income_events GROUP BY 1, 2, 3, 4;
"""

DROP_PREVIOUS_SQL = """
DROP TRIGGER income_task_daily_insert ON execution_tasks;
DROP TRIGGER income_task_daily_update ON execution_tasks;
DROP TRIGGER income_task_daily_delete ON execution_tasks;
DROP TRIGGER income_daily_change ON income_events;
DROP FUNCTION income_task_daily_sync();
DROP FUNCTION income_task_daily_add(execution_tasks, integer);
DROP FUNCTION income_daily_sync();
DROP FUNCTION income_daily_add(income_events, integer);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('execution', '0011_finished_index'),
        ('income', '0008_roles_reconciliation'),
    ]

    operations = [
        migrations.CreateModel(
            name='RollupRebuild',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('first_day', models.DateField()),
                ('last_day', models.DateField()),
                ('next_day', models.DateField(help_text='The first day not rebuilt yet.')),
                ('days_done', models.PositiveIntegerField(default=0)),
                ('started_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'db_table': 'income_rollup_rebuilds',
            },
        ),
        migrations.CreateModel(
            name='IncomeRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('grain', models.CharField(choices=[('hour', 'Hour'), ('day', 'Day')], max_length=4)),
                ('period', models.DateTimeField(help_text='Start of the UTC hour or day.')),
                ('currency', models.CharField(max_length=3)),
                ('ai_model', models.CharField(max_length=200, null=True)),
                ('amount', models.DecimalField(decimal_places=3, default=Decimal('0'), max_digits=20)),
                ('net', models.DecimalField(decimal_places=9, default=Decimal('0'), help_text="Amount less Stripe's fees converted back to this currency (the amount while a fee is unknown).", max_digits=24)),
                ('fee_unknown', models.IntegerField(default=0, help_text='Stripe rows whose fee is not read yet.')),
                ('events', models.IntegerField(default=0)),
                ('task_type', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='execution.tasktype')),
            ],
            options={
                'db_table': 'income_rollup',
            },
        ),
        migrations.CreateModel(
            name='TaskRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('grain', models.CharField(choices=[('hour', 'Hour'), ('day', 'Day')], max_length=4)),
                ('period', models.DateTimeField(help_text='Start of the UTC hour or day.')),
                ('ai_model', models.CharField(max_length=200)),
                ('runs', models.IntegerField(default=0, help_text='Tasks that ran (attempts > 0) and finished in the period.')),
                ('successes', models.IntegerField(default=0)),
                ('failures', models.IntegerField(default=0)),
                ('retries', models.IntegerField(default=0, help_text='Attempts beyond the first.')),
                ('duration_count', models.IntegerField(default=0, help_text='Runs with a measured duration.')),
                ('duration_sum_ms', models.BigIntegerField(default=0)),
                ('duration_max_ms', models.BigIntegerField(default=0, help_text='Highest duration seen; a retracted run does not lower it until a rebuild.')),
                ('duration_hist', django.contrib.postgres.fields.ArrayField(base_field=models.IntegerField(), help_text='Runs per duration bucket.', size=None)),
                ('input_tokens', models.BigIntegerField(default=0)),
                ('output_tokens', models.BigIntegerField(default=0)),
                ('cost', models.DecimalField(decimal_places=6, default=Decimal('0'), max_digits=20)),
                ('cost_unknown', models.IntegerField(default=0, help_text='Finished tasks without a known cost.')),
                ('task_type', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='execution.tasktype')),
            ],
            options={
                'db_table': 'income_task_rollup',
            },
        ),
        migrations.AddConstraint(
            model_name='incomerollup',
            constraint=models.UniqueConstraint(fields=('grain', 'period', 'currency', 'ai_model', 'task_type'), name='income_rollup_key', nulls_distinct=False),
        ),
        migrations.AddIndex(
            model_name='taskrollup',
            index=models.Index(fields=['grain', 'task_type', 'period'], name='income_task_rollup_type_idx'),
        ),
        migrations.AddConstraint(
            model_name='taskrollup',
            constraint=models.UniqueConstraint(fields=('grain', 'period', 'ai_model', 'task_type'), name='income_task_rollup_key'),
        ),
        migrations.RunSQL(TRIGGERS_SQL + BACKFILL_SQL, DROP_NEW_SQL),
        migrations.RunSQL(DROP_PREVIOUS_SQL, PREVIOUS_TRIGGERS_SQL + PREVIOUS_BACKFILL_SQL),
    ]
