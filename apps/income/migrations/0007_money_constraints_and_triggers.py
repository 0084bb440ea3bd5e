"""Issue 16, the steps that read all of `income_events`, done without blocking its writers (at 10 million rows):
indexes built CONCURRENTLY, check constraints added NOT VALID and then validated (a SHARE UPDATE EXCLUSIVE lock),
the rollup trigger replaced and the new rollup columns backfilled. Reversing refuses, saying why, while the
ledger holds money that the earlier schema cannot hold (disputes, reversed refunds, two rows of one event)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

# Copies of the SQL as it was when this migration was written (the migration never changes with the code):
# the income_events trigger now also keeps net and the settlement-currency rollup.
TRIGGERS_SQL = """
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

PREVIOUS_TRIGGERS_SQL = """
DROP FUNCTION income_settlement_daily_add(income_events, integer);
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

# Rows booked before this migration have no fee: net is their amount, and each Stripe row's fee is unknown.
BACKFILL_SQL = """
UPDATE income_daily SET net = amount;
UPDATE income_daily AS r SET fee_unknown = s.stripe_rows
FROM (SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, currency, ai_model, task_type_id, count(*) AS stripe_rows
      FROM income_events WHERE kind <> 'manual' GROUP BY 1, 2, 3, 4) AS s
WHERE r.day = s.day AND r.currency = s.currency AND r.ai_model IS NOT DISTINCT FROM s.ai_model
  AND r.task_type_id IS NOT DISTINCT FROM s.task_type_id;
"""


CHECKS = {  # name: (the condition as PostgreSQL reads it, the same condition for Django's state)
    "income_kind_valid_v2": (
        "kind IN ('payment', 'refund', 'refund_failure', 'dispute', 'manual')",
        models.Q(kind__in=["payment", "refund", "refund_failure", "dispute", "manual"]),
    ),
    "income_refund_failure_positive": (
        "NOT (kind = 'refund_failure') OR (amount > 0 AND stripe_event_id IS NOT NULL)",
        ~models.Q(kind="refund_failure") | models.Q(amount__gt=0, stripe_event_id__isnull=False),
    ),
    "income_dispute_from_stripe": (
        "NOT (kind = 'dispute') OR (NOT (amount = 0) AND stripe_event_id IS NOT NULL)",
        ~models.Q(kind="dispute") | (~models.Q(amount=0) & models.Q(stripe_event_id__isnull=False)),
    ),
}
UNIQUE = {  # name: (column, partial condition as PostgreSQL reads it, the same for Django's state)
    "income_one_refund_row_per_event": (
        "stripe_event_id", "kind IN ('refund', 'refund_failure')", models.Q(kind__in=["refund", "refund_failure"]),
    ),
    "income_one_row_per_balance_transaction": (
        "balance_transaction_id", "NOT (balance_transaction_id = '')", ~models.Q(balance_transaction_id=""),
    ),
}


def check_added(name: str, sql: str, condition) -> migrations.SeparateDatabaseAndState:
    return migrations.SeparateDatabaseAndState(
        state_operations=[
            migrations.AddConstraint("incomeevent", models.CheckConstraint(condition=condition, name=name))
        ],
        database_operations=[
            migrations.RunSQL(
                [f"ALTER TABLE income_events ADD CONSTRAINT {name} CHECK ({sql}) NOT VALID",
                 f"ALTER TABLE income_events VALIDATE CONSTRAINT {name}"],
                f"ALTER TABLE income_events DROP CONSTRAINT {name}",
            )
        ],
    )  # fmt: skip


def unique_added(name: str, column: str, sql: str, condition) -> migrations.SeparateDatabaseAndState:
    return migrations.SeparateDatabaseAndState(
        state_operations=[
            migrations.AddConstraint(
                "incomeevent", models.UniqueConstraint(fields=[column], condition=condition, name=name)
            )
        ],
        database_operations=[
            migrations.RunSQL(
                f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON income_events ({column}) WHERE {sql}",
                f"DROP INDEX CONCURRENTLY {name}",
            )
        ],
    )  # fmt: skip


def reversal_refused_while_new_money(apps, schema_editor):
    """The earlier schema allows one row per Stripe event and three kinds: say what stands in the way."""
    IncomeEvent = apps.get_model("income", "IncomeEvent")
    kinds = sorted(set(IncomeEvent.objects.exclude(kind__in=["payment", "refund", "manual"])
                       .values_list("kind", flat=True)))  # fmt: skip
    shared = (IncomeEvent.objects.exclude(stripe_event_id=None).values("stripe_event_id")
              .annotate(rows=models.Count("id")).filter(rows__gt=1).count())  # fmt: skip
    if kinds or shared:
        raise RuntimeError(
            f"Cannot go back before income 0006: the ledger holds {', '.join(kinds) or 'no'} rows of new kinds and "
            f"{shared} Stripe event(s) booked as several rows. Restore a backup taken before 0006 instead."
        )


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("income", "0006_money_events_settlement_reconciliation")]

    operations = [
        AddIndexConcurrently("incomeevent", models.Index(fields=["stripe_event_id"], name="income_stripe_event_idx")),
        *[unique_added(name, column, sql, condition) for name, (column, sql, condition) in UNIQUE.items()],
        *[check_added(name, sql, condition) for name, (sql, condition) in CHECKS.items()],
        migrations.RunSQL(TRIGGERS_SQL, PREVIOUS_TRIGGERS_SQL),
        migrations.RunSQL(BACKFILL_SQL, migrations.RunSQL.noop),
        migrations.RunPython(migrations.RunPython.noop, reversal_refused_while_new_money),
    ]
