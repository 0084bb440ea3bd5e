"""What the ledger reads from the Stripe API, always in a job (never in the webhook request): the balance
transaction behind a payment or refund (fee, net, settlement currency, exchange rate) and, for an invoiced payment
booked before its invoice arrived, the invoice's lines."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import stripe
from django.db import transaction

from apps.core.money import amount_from_minor_units, currency_decimals
from apps.offers.services import stripe_client, stripe_setup_problem

from .booking import (
    ATTRIBUTION_COLUMNS,
    followers_attribute,
    income_invoice_attribution,
    invoice_summary,
    settlement_fields,
)
from .models import NO_SETTLEMENT, IncomeEvent

Kind = IncomeEvent.Kind
SETTLEMENT_COLUMNS = ["balance_transaction_id", "settlement_currency", "settlement_amount", "fee", "net",
                      "exchange_rate", "settlement_note"]  # fmt: skip


def income_stripe_details_fetch(*, row_id: int) -> str:
    """Fill in the row's fee and net (and its attribution from the invoice when still missing). Stripe errors
    propagate, so RQ retries the job."""
    row = IncomeEvent.objects.filter(pk=row_id).first()
    if row is None or row.kind == Kind.MANUAL:
        return "nothing to read"
    problem = stripe_setup_problem()
    if problem:
        IncomeEvent.objects.filter(pk=row_id).update(settlement_note=f"Not read from Stripe: {problem}"[:255])
        return "Stripe not configured"
    client = stripe_client()
    outcomes = []
    if not row.settlement_currency and not row.settlement_note.startswith(NO_SETTLEMENT):
        outcomes.append(_settlement_read(row, client))
    if not row.attribution_source and row.kind == Kind.PAYMENT and row.payment_intent_id:
        outcomes.append(_invoice_attribution_read(row, client))
    return "; ".join(outcomes) or "nothing to read"


def _settlement_read(row: IncomeEvent, client: stripe.StripeClient) -> str:
    if row.kind == Kind.PAYMENT:
        charge_id = row.charge_id or _charge_of(row.payment_intent_id, client)
        charge = client.v1.charges.retrieve(charge_id, {"expand": ["balance_transaction"]})
        txn = charge.to_dict()["balance_transaction"]
        if not isinstance(txn, dict):
            return _note(row, f"charge {charge_id} has no balance transaction yet")
    else:
        txn = _refund_transaction(row, client)
        if txn is None:
            return _note(row, f"charge {row.charge_id} has no refund with a balance transaction yet")
    with transaction.atomic():
        locked = IncomeEvent.objects.select_for_update().get(pk=row.pk)
        if locked.settlement_currency:
            return "fee already known"
        for name, value in settlement_fields(txn).items():
            setattr(locked, name, value)
        if not txn["id"]:
            locked.settlement_note = "converted like the charge's other refunds (no single refund matches this row)"
        locked._change_reason = f"fee and net from balance transaction {txn['id'] or '(charge refunds)'}"
        locked.save(update_fields=SETTLEMENT_COLUMNS)
    return f"fee {locked.fee} {locked.settlement_currency}"


def _charge_of(intent_id: str, client: stripe.StripeClient) -> str:
    charges = client.v1.charges.list({"payment_intent": intent_id, "limit": 1})
    if not charges.data:
        raise LookupError(f"PaymentIntent {intent_id} has no charge")
    return charges.data[0].id


def _refund_transaction(row: IncomeEvent, client: stripe.StripeClient) -> dict | None:
    """The balance transaction of the refund (or of its failure) this row booked: the charge's refunds of the
    same amount not yet linked to another row, oldest first. When deliveries arrived so that one row covers
    parts of several refunds (rows follow the charge's refunded total, not each refund), there is none: the
    row settles like the charge's refunds (Stripe keeps no fee on a refund) without a transaction of its own."""
    refunds = client.v1.refunds.list({
        "charge": row.charge_id, "limit": 100,
        "expand": ["data.balance_transaction", "data.failure_balance_transaction"],
    }).to_dict()["data"]  # fmt: skip
    linked = set(
        IncomeEvent.objects.filter(charge_id=row.charge_id).exclude(balance_transaction_id="")
        .values_list("balance_transaction_id", flat=True)
    )  # fmt: skip
    field = "balance_transaction" if row.kind == Kind.REFUND else "failure_balance_transaction"
    transactions = []
    for refund in sorted(refunds, key=lambda refund: (refund["created"], refund["id"])):
        txn = refund.get(field)
        if not isinstance(txn, dict):
            continue
        transactions.append(txn)
        if txn["id"] not in linked and amount_from_minor_units(refund["amount"], refund["currency"]) == abs(row.amount):
            return txn
    if not transactions:
        return None
    return _converted_like(row, transactions[0])


def _converted_like(row: IncomeEvent, txn: dict) -> dict:
    """The row's amount settled at the rate of a sibling refund's transaction, without a fee or an id."""
    rate = txn.get("exchange_rate")
    settled = row.amount * Decimal(str(rate)) if rate is not None else row.amount
    minor = int(settled.scaleb(currency_decimals(txn["currency"])).to_integral_value(ROUND_HALF_EVEN))
    return {"id": "", "currency": txn["currency"], "amount": minor, "fee": 0, "net": minor, "exchange_rate": rate}


def _invoice_attribution_read(row: IncomeEvent, client: stripe.StripeClient) -> str:
    intent = client.v1.payment_intents.retrieve(row.payment_intent_id).to_dict()
    invoice_id = intent.get("invoice")
    if not invoice_id:
        return "no invoice to attribute from"
    invoice = client.v1.invoices.retrieve(invoice_id if isinstance(invoice_id, str) else invoice_id["id"]).to_dict()
    attribution = income_invoice_attribution(invoice_summary(invoice))
    with transaction.atomic():
        locked = IncomeEvent.objects.select_for_update().get(pk=row.pk)
        if locked.attribution_source:
            return "already attributed"
        for name, value in attribution.items():
            setattr(locked, name, value)
        locked._change_reason = f"attributed from invoice {invoice['id']} (read from Stripe)"
        locked.save(update_fields=ATTRIBUTION_COLUMNS)
        followers_attribute(locked)
    return f"attribution: {locked.get_attribution_source_display()}"


def _note(row: IncomeEvent, note: str) -> str:
    IncomeEvent.objects.filter(pk=row.pk).update(settlement_note=note[:255])
    return note
