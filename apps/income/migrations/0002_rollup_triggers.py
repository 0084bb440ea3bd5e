from django.db import migrations

# The SQL as it was when this migration was written, copied here so that the migration never changes with the
# code: apps/income/rollups.py declares the current triggers (tests/income/test_rollup_triggers.py checks that
# the database's match it); a change there needs a new migration carrying the new text.
TRIGGERS_SQL = """
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
    INSERT INTO income_daily AS r (day, currency, ai_model, task_type_id, amount, events)
    VALUES ((e.occurred_at AT TIME ZONE 'UTC')::date, e.currency, e.ai_model, e.task_type_id, sign * e.amount, sign)
    ON CONFLICT ON CONSTRAINT income_daily_key DO UPDATE SET
        amount = r.amount + EXCLUDED.amount,
        events = r.events + EXCLUDED.events
$$;

CREATE OR REPLACE FUNCTION income_daily_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM income_daily_add(OLD, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM income_daily_add(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER income_daily_change
    AFTER INSERT OR DELETE OR UPDATE OF amount, currency, occurred_at, ai_model, task_type_id ON income_events
    FOR EACH ROW EXECUTE FUNCTION income_daily_sync();
"""

DROP_TRIGGERS_SQL = """
DROP TRIGGER income_daily_change ON income_events;
DROP FUNCTION income_daily_sync();
DROP FUNCTION income_daily_add(income_events, integer);
DROP TRIGGER income_task_daily_insert ON execution_tasks;
DROP TRIGGER income_task_daily_update ON execution_tasks;
DROP TRIGGER income_task_daily_delete ON execution_tasks;
DROP FUNCTION income_task_daily_sync();
DROP FUNCTION income_task_daily_add(execution_tasks, integer);
"""

REBUILD_SQL = """
LOCK TABLE execution_tasks, income_events IN SHARE MODE;
DELETE FROM income_task_daily;
INSERT INTO income_task_daily (day, ai_model, task_type_id, tasks_run, tasks_succeeded, cost, cost_unknown)
SELECT (finished_at AT TIME ZONE 'UTC')::date, ai_model, task_type_id, count(*),
       count(*) FILTER (WHERE status = 'succeeded'), COALESCE(sum(cost), 0), count(*) FILTER (WHERE cost IS NULL)
FROM execution_tasks WHERE finished_at IS NOT NULL AND attempts > 0 GROUP BY 1, 2, 3;
DELETE FROM income_daily;
INSERT INTO income_daily (day, currency, ai_model, task_type_id, amount, events)
SELECT (occurred_at AT TIME ZONE 'UTC')::date, currency, ai_model, task_type_id, sum(amount), count(*)
FROM income_events GROUP BY 1, 2, 3, 4;
"""


class Migration(migrations.Migration):
    """Triggers that keep the daily rollups exact, then one rebuild from the tasks already there."""

    dependencies = [("income", "0001_ledger_and_rollups")]

    operations = [
        migrations.RunSQL(TRIGGERS_SQL, DROP_TRIGGERS_SQL),
        migrations.RunSQL(REBUILD_SQL, migrations.RunSQL.noop),
    ]
