"""Daily rollups behind the ROI page, kept exact by PostgreSQL triggers: every insert, update or delete of a
finished task or an income row adds its difference to one rollup row, in the same transaction. ROI then reads
(days x models x task types) rows however many tasks there are.

`TRIGGERS_SQL` declares the triggers the database must have: migration 0002 installed a copy of it, and
tests/income/test_rollup_triggers.py checks that the database's functions match it, so a change here needs a new
migration that installs the new text. `rollups_rebuild` recomputes the tables from scratch (recovery, bulk loads).
"""

from django.db import connection, transaction

# A task counts once it has run (attempts > 0) and finished; on its finish day, in UTC.
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

# What TRIGGERS_SQL installs, as check_schema verifies it: (table, trigger, trigger function), helper functions.
# Two of the triggers are on execution's table: execution_tasks rows feed the daily task rollup.
ROLLUP_TRIGGERS = (
    ("execution_tasks", "income_task_daily_insert", "income_task_daily_sync"),
    ("execution_tasks", "income_task_daily_update", "income_task_daily_sync"),
    ("execution_tasks", "income_task_daily_delete", "income_task_daily_sync"),
    ("income_events", "income_daily_change", "income_daily_sync"),
)
ROLLUP_FUNCTIONS = ("income_task_daily_add", "income_daily_add", "income_settlement_daily_add")

REBUILD_SQL = """
LOCK TABLE execution_tasks, income_events IN SHARE MODE;
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
DELETE FROM income_settlement_daily;
INSERT INTO income_settlement_daily (day, settlement_currency, ai_model, task_type_id, gross, fee, net, events)
SELECT (occurred_at AT TIME ZONE 'UTC')::date, settlement_currency, ai_model, task_type_id, sum(settlement_amount),
       sum(fee), sum(net), count(*)
FROM income_events WHERE settlement_currency <> '' GROUP BY 1, 2, 3, 4;
"""


@transaction.atomic
def rollups_rebuild() -> None:
    """Recompute both rollups from the tasks and the ledger (writes to them wait meanwhile)."""
    with connection.cursor() as cursor:
        cursor.execute(REBUILD_SQL)
