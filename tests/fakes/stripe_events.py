"""Money movements in the Stripe stand-in, with the webhook events Stripe sends for them.

Each movement creates the objects Stripe would (PaymentIntent, Charge, Refund, Dispute, Invoice, and the
BalanceTransaction that moves the money, with Stripe's fee and, across currencies, the exchange rate) in the
stand-in, so that the console's API calls find them, and appends the events Stripe would emit (main event and
companions, 2024-04-10 shapes) to `events`. `deliveries()` signs them with the webhook secret as Stripe does; a
test posts them in whatever order it wants, replays included.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from decimal import ROUND_HALF_EVEN, Decimal

from apps.core.money import currency_decimals

from .stripe_api import FakeStripe

API_VERSION = "2024-04-10"
FEE_PERCENT, FEE_FIXED_MINOR = Decimal("0.029"), 30  # Stripe's card pricing, in the settlement currency
DISPUTE_FEE_MINOR = 1500


class StripeMoney:
    def __init__(self, fake: FakeStripe, *, settlement_currency: str = "usd"):
        self.fake, self.settlement_currency, self.events = fake, settlement_currency, []

    # Movements ---------------------------------------------------------------------------------------------

    def pay(self, minor: int, currency: str = "usd", *, metadata: dict | None = None, rate: str | None = None,
            invoice: str | None = None, customer: str = "cus_FakeCustomer0001") -> dict:  # fmt: skip
        """A succeeded card payment; returns the PaymentIntent (its charge is `latest_charge`)."""
        intent_id, charge_id = self.fake.new_id("pi"), self.fake.new_id("ch")
        txn = self._balance_transaction(minor, currency, rate=rate, source=charge_id, kind="charge",
                                        fee_minor=None)  # fmt: skip
        now = self.fake.now()
        charge = self._save({
            "id": charge_id, "object": "charge", "amount": minor, "amount_captured": minor, "amount_refunded": 0,
            "balance_transaction": txn["id"], "captured": True, "created": now, "currency": currency,
            "customer": customer, "disputed": False, "invoice": invoice, "livemode": False,
            "metadata": dict(metadata or {}), "paid": True, "payment_intent": intent_id, "refunded": False,
            "status": "succeeded",
        })  # fmt: skip
        intent = self._save({
            "id": intent_id, "object": "payment_intent", "amount": minor, "amount_capturable": 0,
            "amount_received": minor, "capture_method": "automatic_async", "created": now, "currency": currency,
            "customer": customer, "invoice": invoice, "latest_charge": charge_id, "livemode": False,
            "metadata": dict(metadata or {}), "payment_method_types": ["card"], "status": "succeeded",
        })  # fmt: skip
        self._emit("charge.succeeded", charge)
        self._emit("payment_intent.succeeded", intent)
        return intent

    def pay_checkout(self, session_id: str, *, customer: str = "cus_FakeCustomer0001") -> dict:
        """The customer completes a Checkout Session: its PaymentIntent carries `payment_intent_data.metadata`."""
        session = self.fake.objects[session_id]
        intent = self.pay(session["amount_total"], session["currency"],
                          metadata=self.fake.checkout_intent_metadata[session_id], customer=customer)  # fmt: skip
        session.update(status="complete", payment_status="paid", payment_intent=intent["id"])
        return intent

    def refund(self, charge_id: str, minor: int) -> dict:
        charge = self.fake.objects[charge_id]
        refund_id = self.fake.new_id("re")
        txn = self._balance_transaction(-minor, charge["currency"], rate=self._rate_of(charge), source=refund_id,
                                        kind="refund", fee_minor=0)  # fmt: skip
        refund = self._save({
            "id": refund_id, "object": "refund", "amount": minor, "balance_transaction": txn["id"],
            "charge": charge_id, "created": self.fake.now(), "currency": charge["currency"],
            "failure_balance_transaction": None, "failure_reason": None, "metadata": {},
            "payment_intent": charge["payment_intent"], "reason": "requested_by_customer", "status": "succeeded",
        })  # fmt: skip
        charge["amount_refunded"] += minor
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self._emit("charge.refunded", charge)
        self._emit("refund.created", refund)
        return refund

    def refund_fail(self, refund_id: str, *, status: str = "failed") -> dict:
        """The bank returned the refund (`failed`) or it was canceled: the money comes back to the balance."""
        refund = self.fake.objects[refund_id]
        charge = self.fake.objects[refund["charge"]]
        txn = self._balance_transaction(refund["amount"], refund["currency"], rate=self._rate_of(charge),
                                        source=refund_id, kind="refund_failure", fee_minor=0)  # fmt: skip
        refund.update(status=status, failure_balance_transaction=txn["id"],
                      failure_reason="expired_or_canceled_card" if status == "failed" else None)  # fmt: skip
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = False
        self._emit("refund.failed" if status == "failed" else "refund.updated", refund)
        self._emit("charge.refund.updated", refund)
        return refund

    def dispute(self, charge_id: str) -> dict:
        """A chargeback: the disputed amount and the dispute fee leave the balance at once."""
        charge = self.fake.objects[charge_id]
        dispute_id = self.fake.new_id("du")
        withdrawal = self._balance_transaction(
            -charge["amount"],
            charge["currency"],
            rate=self._rate_of(charge),
            source=dispute_id,
            kind="dispute",
            fee_minor=DISPUTE_FEE_MINOR,
        )
        dispute = self._save({
            "id": dispute_id, "object": "dispute", "amount": charge["amount"], "balance_transactions": [],
            "charge": charge_id, "created": self.fake.now(), "currency": charge["currency"],
            "is_charge_refundable": False, "livemode": False, "metadata": {},
            "payment_intent": charge["payment_intent"], "reason": "fraudulent", "status": "needs_response",
        })  # fmt: skip
        charge["disputed"] = True
        self._emit("charge.dispute.created", self._with_transactions(dispute))
        dispute["balance_transactions"] = [withdrawal["id"]]
        self._emit("charge.dispute.funds_withdrawn", self._with_transactions(dispute))
        return dispute

    def dispute_close(self, dispute_id: str, *, won: bool) -> dict:
        """Won: the amount and the fee come back (`funds_reinstated`); lost: nothing more moves."""
        dispute = self.fake.objects[dispute_id]
        charge = self.fake.objects[dispute["charge"]]
        dispute["status"] = "won" if won else "lost"
        if won:
            reinstated = self._balance_transaction(dispute["amount"], dispute["currency"], rate=self._rate_of(charge),
                                                   source=dispute_id, kind="dispute_reversal",
                                                   fee_minor=-DISPUTE_FEE_MINOR)  # fmt: skip
            dispute["balance_transactions"].append(reinstated["id"])
            self._emit("charge.dispute.funds_reinstated", self._with_transactions(dispute))
        self._emit("charge.dispute.closed", self._with_transactions(dispute))
        return dispute

    def subscribe(self, price_id: str, *, metadata: dict) -> dict:
        """A subscription to a recurring price, carrying the metadata its invoices' lines repeat."""
        return self._save({
            "id": self.fake.new_id("sub"), "object": "subscription", "created": self.fake.now(),
            "customer": "cus_FakeCustomer0001", "items": {"object": "list", "data": [{"price": price_id}]},
            "metadata": dict(metadata), "status": "active",
        })  # fmt: skip

    def invoice_paid(self, subscription_id: str, *, billing_reason: str = "subscription_cycle") -> dict:
        """An invoice of the subscription paid by card: the PaymentIntent carries no metadata of its own, as in
        Stripe; what it was for is on the invoice's lines."""
        subscription = self.fake.objects[subscription_id]
        price = self.fake.objects[subscription["items"]["data"][0]["price"]]
        invoice_id = self.fake.new_id("in")
        intent = self.pay(price["unit_amount"], price["currency"], invoice=invoice_id)
        invoice = self._save({
            "id": invoice_id, "object": "invoice", "amount_due": price["unit_amount"],
            "amount_paid": price["unit_amount"], "amount_remaining": 0, "billing_reason": billing_reason,
            "charge": intent["latest_charge"], "created": self.fake.now(), "currency": price["currency"],
            "customer": subscription["customer"], "livemode": False, "metadata": {}, "paid": True,
            "paid_out_of_band": False, "payment_intent": intent["id"], "status": "paid",
            "subscription": subscription_id, "subscription_details": {"metadata": dict(subscription["metadata"])},
            "tax": None, "total": price["unit_amount"],
            "lines": {"object": "list", "has_more": False, "url": f"/v1/invoices/{invoice_id}/lines", "data": [{
                "id": self.fake.new_id("il"), "object": "line_item", "amount": price["unit_amount"],
                "currency": price["currency"], "metadata": dict(subscription["metadata"]),
                "price": copy.deepcopy(price), "quantity": 1, "subscription": subscription_id,
                "type": "subscription",
            }]},
        })  # fmt: skip
        self._emit("invoice.paid", invoice)
        self._emit("invoice.payment_succeeded", invoice)
        return invoice

    # Deliveries --------------------------------------------------------------------------------------------

    def deliveries(self, secret: str) -> list[tuple[str, str]]:
        """(body, Stripe-Signature) per event, signed now as Stripe signs (docs.stripe.com/webhooks)."""
        return [signed(event, secret) for event in self.events]

    # Building blocks ---------------------------------------------------------------------------------------

    def _save(self, obj: dict) -> dict:
        self.fake.objects[obj["id"]] = obj
        return obj

    def _emit(self, event_type: str, obj: dict) -> None:
        self.events.append({
            "id": self.fake.new_id("evt"), "object": "event", "api_version": API_VERSION, "created": self.fake.now(),
            "data": {"object": copy.deepcopy(obj)}, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": event_type,
        })  # fmt: skip

    def _with_transactions(self, dispute: dict) -> dict:
        """Disputes carry their balance transactions expanded, in events too."""
        return {**dispute, "balance_transactions": [self.fake.objects[txn] for txn in dispute["balance_transactions"]]}

    def _rate_of(self, charge: dict) -> str | None:
        rate = self.fake.objects[charge["balance_transaction"]]["exchange_rate"]
        return None if rate is None else str(rate)

    def _balance_transaction(self, minor: int, currency: str, *, rate: str | None, source: str, kind: str,
                             fee_minor: int | None) -> dict:  # fmt: skip
        """Money in the settlement currency: converted at `rate` when the currencies differ; Stripe's card fee
        on charges (`fee_minor=None`)."""
        settle = self.settlement_currency
        if currency == settle:
            rate = None
            settled = minor
        else:
            scale = Decimal(10) ** (currency_decimals(settle) - currency_decimals(currency))
            settled = int((Decimal(minor) * Decimal(rate) * scale).to_integral_value(ROUND_HALF_EVEN))
        if fee_minor is None:
            fee_minor = int((abs(settled) * FEE_PERCENT).to_integral_value(ROUND_HALF_EVEN)) + FEE_FIXED_MINOR
        category = {"charge": "charge", "refund": "refund", "refund_failure": "refund_failure",
                    "dispute": "dispute", "dispute_reversal": "dispute_reversal"}[kind]  # fmt: skip
        txn_type = {"dispute": "adjustment", "dispute_reversal": "adjustment"}.get(kind, kind)
        now = self.fake.now()
        return self._save({
            "id": self.fake.new_id("txn"), "object": "balance_transaction", "amount": settled,
            "available_on": now + 2 * 86400, "created": now, "currency": settle, "description": None,
            "exchange_rate": None if rate is None else float(rate), "fee": fee_minor,
            "fee_details": [] if not fee_minor else [
                {"amount": fee_minor, "application": None, "currency": settle, "description": "Stripe processing fees",
                 "type": "stripe_fee"}],
            "net": settled - fee_minor, "reporting_category": category, "source": source, "status": "pending",
            "type": txn_type,
        })  # fmt: skip


def signed(event: dict, secret: str, timestamp: int | None = None) -> tuple[str, str]:
    body = json.dumps(event)
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return body, f"t={timestamp},v1={mac}"
