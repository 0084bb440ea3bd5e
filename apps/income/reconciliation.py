"""Daily reconciliation: the ledger against Stripe's own record of money, its balance transactions.

For one UTC day, every balance transaction of a kind the ledger books (charges, refunds, refund failures,
dispute withdrawals and reinstatements) is matched to its ledger row, by transaction id or, for rows whose fee was
not read yet, by its source (the charge of a payment, the charge and amount of a refund, the dispute); a match
fills in the row's fee and net. What does not match, or matches with another amount or fee, is a difference."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import stripe
from django.db import transaction
from django.utils import timezone

from apps.core.money import amount_from_minor_units
from apps.offers.services import stripe_client, stripe_setup_problem

from .booking import settlement_fields
from .models import NO_SETTLEMENT, IncomeEvent, ReconciliationDifference, ReconciliationRun

Kind, Outcome, Difference = IncomeEvent.Kind, ReconciliationRun.Outcome, ReconciliationDifference.Kind
BOOKED_CATEGORIES = {"charge", "refund", "refund_failure", "dispute", "dispute_reversal"}
PAGE = 100


def income_reconcile_day(*, day: date) -> ReconciliationRun:
    """Compare `day` and record the run and each difference; safe to run again (each run is kept). Whatever
    stops a run (Stripe away, a database error) ends it as `could not run` with the reason, never `running`."""
    run = ReconciliationRun.objects.create(day=day)
    try:
        problem = stripe_setup_problem()
        if problem:
            raise RuntimeError(problem)
        differences = _compare(run, day, _stripe_transactions(day, stripe_client()))
        with transaction.atomic():
            ReconciliationDifference.objects.bulk_create(differences)
            run.outcome = Outcome.DIFFERENCES if differences else Outcome.MATCHED
            run.finished_at = timezone.now()
            run.save()
    except Exception as error:  # recorded on the run, for the admin, and raised again for RQ's failed registry
        message = (error.user_message if isinstance(error, stripe.StripeError) else None) or str(error)
        ReconciliationRun.objects.filter(pk=run.pk).update(
            outcome=Outcome.FAILED, error=f"{type(error).__name__}: {message}", finished_at=timezone.now()
        )
        run.refresh_from_db()
        if not isinstance(error, stripe.StripeError | RuntimeError):
            raise
    return run


def _stripe_transactions(day: date, client: stripe.StripeClient) -> list[dict]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    params = {
        "created": {"gte": int(start.timestamp()), "lt": int((start + timedelta(days=1)).timestamp())},
        "limit": PAGE, "expand": ["data.source"],
    }  # fmt: skip
    found = []
    while True:
        page = client.v1.balance_transactions.list(params).to_dict()
        found += [txn for txn in page["data"] if txn.get("reporting_category") in BOOKED_CATEGORIES]
        if not page["has_more"]:
            return found
        params["starting_after"] = page["data"][-1]["id"]


def _compare(run: ReconciliationRun, day: date, transactions: list[dict]) -> list[ReconciliationDifference]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    ledger_day = list(
        IncomeEvent.objects.from_stripe().filter(occurred_at__gte=start, occurred_at__lt=start + timedelta(days=1))
        .exclude(settlement_note__startswith=NO_SETTLEMENT)
    )  # fmt: skip
    run.stripe_transactions, run.ledger_rows = len(transactions), len(ledger_day)
    by_txn = {
        row.balance_transaction_id: row
        for row in IncomeEvent.objects.filter(balance_transaction_id__in=[txn["id"] for txn in transactions])
    }
    differences, matched = [], set()
    refunds_by_charge: dict[str, list[dict]] = {}
    for txn in transactions:
        source = txn.get("source") or {}
        source = source if isinstance(source, dict) else {"id": source}
        row = by_txn.get(txn["id"]) or _row_by_source(txn, source)
        if row is None and txn["reporting_category"] in ("refund", "refund_failure") and source.get("charge"):
            refunds_by_charge.setdefault(source["charge"], []).append(txn)
            continue
        if row is None:
            differences.append(
                _difference(
                    run,
                    Difference.MISSING_IN_LEDGER,
                    txn,
                    source,
                    stripe_value=_settled(txn, "amount"),
                    detail=txn["reporting_category"],
                )
            )
            continue
        matched.add(row.pk)
        if row.balance_transaction_id != txn["id"]:
            _fill_settlement(row, txn)
        if row.settlement_amount != _settled(txn, "amount"):
            differences.append(
                _difference(
                    run,
                    Difference.AMOUNT,
                    txn,
                    source,
                    row=row,
                    stripe_value=_settled(txn, "amount"),
                    ledger_value=row.settlement_amount,
                )
            )
        if row.fee != _settled(txn, "fee"):
            differences.append(
                _difference(
                    run, Difference.FEE, txn, source, row=row, stripe_value=_settled(txn, "fee"), ledger_value=row.fee
                )
            )
    differences += _refunds_by_charge_compare(run, refunds_by_charge, ledger_day, matched)
    for row in ledger_day:
        if row.pk in matched:
            continue
        if row.balance_transaction_id and not _missing_in_stripe(row):
            continue  # its balance transaction is dated another day (an event just after midnight)
        differences.append(ReconciliationDifference(
            run=run, kind=Difference.MISSING_IN_STRIPE, balance_transaction_id=row.balance_transaction_id,
            source_id=row.charge_id or row.stripe_object_id, ledger_row=row, currency=row.settlement_currency,
            ledger_value=row.settlement_amount, detail=f"{row.get_kind_display()} {row.amount} {row.currency}",
        ))  # fmt: skip
    return differences


def _refunds_by_charge_compare(run, refunds_by_charge, ledger_day, matched) -> list[ReconciliationDifference]:
    """Refund rows follow a charge's refunded total, so when deliveries came out of order one row can cover
    parts of several refunds: what is left unmatched is compared per charge, in total."""
    differences = []
    for charge_id, transactions in refunds_by_charge.items():
        rows = [row for row in ledger_day if row.pk not in matched and row.charge_id == charge_id
                and row.kind in (Kind.REFUND, Kind.REFUND_FAILURE) and not row.balance_transaction_id]  # fmt: skip
        matched.update(row.pk for row in rows)
        stripe_total = sum(_settled(txn, "amount") for txn in transactions)
        ledger_total = sum((row.settlement_amount or row.amount) for row in rows)
        if stripe_total != ledger_total:
            differences.append(ReconciliationDifference(
                run=run, kind=Difference.AMOUNT, source_id=charge_id, currency=transactions[0]["currency"],
                stripe_value=stripe_total, ledger_value=ledger_total,
                detail=f"refunds of {charge_id}: {len(transactions)} in Stripe, {len(rows)} ledger rows",
            ))  # fmt: skip
    return differences


def _row_by_source(txn: dict, source: dict) -> IncomeEvent | None:
    """The ledger row this transaction belongs to, for rows whose fee was never read."""
    unlinked = IncomeEvent.objects.filter(balance_transaction_id="")
    category = txn["reporting_category"]
    if category == "charge":
        return unlinked.filter(kind=Kind.PAYMENT, charge_id=source["id"]).first()
    if category in ("refund", "refund_failure") and source.get("charge"):
        amount = amount_from_minor_units(source["amount"], source["currency"])
        kind, signed = (Kind.REFUND, -amount) if category == "refund" else (Kind.REFUND_FAILURE, amount)
        return unlinked.filter(kind=kind, charge_id=source["charge"], amount=signed).order_by("occurred_at").first()
    return None  # dispute rows are booked from their transactions, so they are found by id


def _fill_settlement(row: IncomeEvent, txn: dict) -> None:
    fields = settlement_fields(txn)
    for name, value in fields.items():
        setattr(row, name, value)
    row._change_reason = f"fee and net from balance transaction {txn['id']} (reconciliation)"
    row.save(update_fields=list(fields))


def _missing_in_stripe(row: IncomeEvent) -> bool:
    try:
        stripe_client().v1.balance_transactions.retrieve(row.balance_transaction_id)
    except stripe.InvalidRequestError as error:
        return error.http_status == 404
    return False


def _settled(txn: dict, field: str):
    return amount_from_minor_units(txn[field], txn["currency"])


def _difference(run, kind, txn, source, *, row=None, stripe_value=None, ledger_value=None, detail=""):
    return ReconciliationDifference(
        run=run, kind=kind, balance_transaction_id=txn["id"], source_id=source.get("id", ""), ledger_row=row,
        currency=txn["currency"], stripe_value=stripe_value, ledger_value=ledger_value, detail=detail,
    )  # fmt: skip
