"""The database side of the audit log: what makes it append-only and tamper-evident.

The rows form a hash chain: each row's `hash` covers its own content and the previous row's hash, so changing or
removing any row breaks every link after it (`audit_verify` names the first). The chain is kept by a BEFORE
INSERT trigger, not by Python: every writer (the ORM, the transition funnel's single statement, a raw INSERT)
gets the same links. The trigger takes a transaction-level advisory lock and gives the row its `chain_position`
(the last one + 1) under it: positions follow commit order, so "the previous row" is always the one at
chain_position - 1 (ids, handed out before the lock, may not). A statement
trigger refuses UPDATE and DELETE for every role; only dropping or disabling the trigger (a schema owner's act,
which check_schema reports as drift) gets past it.
"""

AUDIT_TABLE = "audit_log"
CHAIN_LOCK = 7_245_081  # pg_advisory_xact_lock key that serialises appends to the chain
AUDIT_TRIGGERS = (
    (AUDIT_TABLE, "audit_log_chain", "audit_log_chain"),
    (AUDIT_TABLE, "audit_log_append_only", "audit_log_refuse_change"),
)
AUDIT_FUNCTIONS = ("audit_log_row_hash",)

# The columns the hash covers, in order: the SQL function below and `audit_verify` both call it with these.
HASHED_COLUMNS = (
    "prev_hash", "chain_position", "created_at", "actor_id", "actor_label", "action", "object_type", "object_id",
    "object_repr", "summary", "details",
)  # fmt: skip


def hash_call(alias: str = "") -> str:
    """`audit_log_row_hash(...)` over a row's columns (`NEW.` in the trigger, a table alias in a query)."""
    prefix = f"{alias}." if alias else ""
    return f"audit_log_row_hash({', '.join(prefix + column for column in HASHED_COLUMNS)})"


FIRST_BREAK_SQL = f"""
    SELECT id, prev_hash = expected_prev AS linked, hash = computed AS intact FROM (
        SELECT id, chain_position, prev_hash, hash,
               coalesce(lag(hash) OVER (ORDER BY chain_position), '') AS expected_prev, {hash_call("a")} AS computed
        FROM {AUDIT_TABLE} a
    ) chain
    WHERE prev_hash <> expected_prev OR hash <> computed
    ORDER BY chain_position LIMIT 1
"""  # noqa: S608 (constants only)
