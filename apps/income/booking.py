"""Stripe deliveries into ledger rows: every money-moving event type booked exactly once, in whatever order and
however often Stripe delivers (README, "Income and ROI" lists the event types and why each counts).

- `payment_intent.succeeded`: the payment (every card payment, one-off or invoiced, is one PaymentIntent).
- Refunds (`charge.refunded`, `refund.created|updated|failed`, `charge.refund.updated`): each delivery is kept as an
  observation of the charge, and the charge's refund rows are brought to what all observations so far say Stripe
  refunded: a refund that failed or was canceled is reversed by a `refund_failure` row, exactly what was booked.
- Disputes (`charge.dispute.*`): each balance transaction a dispute carries (funds withdrawn with the dispute
  fee; funds reinstated when won) is one row, keyed by the transaction.
- Invoices (`invoice.paid`, `invoice.payment_succeeded`): the lines say what a subscription payment was for; an
  invoice paid out of band (no PaymentIntent) is a payment of its own.

Each handler holds a transaction-scoped advisory lock on the payment (PaymentIntent, else charge) it concerns, so
deliveries about one payment are booked one at a time and see each other's rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection, transaction
from djstripe.models import Price

from apps.core.money import amount_display, amount_from_minor_units
from apps.execution.models import AIModel, ExecutionTask, TaskType
from apps.offers.models import OfferTemplate

from .models import NO_SETTLEMENT, IncomeEvent, StripeObservation

Kind, Source, Seen = IncomeEvent.Kind, IncomeEvent.AttributionSource, StripeObservation.Kind
ATTRIBUTION_FIELDS = ("offer_id", "task_id", "ai_model_id", "task_type_id")
EXPERIMENT_FIELDS = ("experiment", "experiment_variant")
REFUND_FAILED = {"failed", "canceled"}
ATTRIBUTION_COLUMNS = ["offer", "task", "ai_model", "task_type", "attribution_source", "unattributed_reason"]


def stripe_event_book(*, event: dict, trigger=None) -> tuple[str, list[int]]:
    """Book one Stripe event; returns what happened and the ids of new rows whose fee is still to be read."""
    handler = HANDLERS.get(event.get("type"))
    if handler is None:
        return f"ignored {event.get('type')}", []
    with transaction.atomic():
        return handler(event, trigger)


# Payments -------------------------------------------------------------------------------------------------


def _payment(event: dict, trigger) -> tuple[str, list[int]]:
    intent = event["data"]["object"]
    _lock(intent["id"])
    if IncomeEvent.objects.filter(kind=Kind.PAYMENT, stripe_object_id=intent["id"]).exists():
        return "already recorded", []
    currency = intent["currency"].lower()
    if not intent.get("amount_received"):
        return f"nothing to book: {intent['id']} received 0 {currency.upper()}", []
    metadata = intent.get("metadata") or {}
    attribution = _from_metadata(metadata)
    if not attribution["attribution_source"] and intent.get("invoice"):
        attribution = _from_invoice_observation(intent["id"], _object_id(intent["invoice"]))
    row = IncomeEvent.objects.create(
        kind=Kind.PAYMENT, amount=amount_from_minor_units(intent["amount_received"], currency), currency=currency,
        occurred_at=_when(event), stripe_event_id=event["id"], stripe_object_id=intent["id"],
        payment_intent_id=intent["id"], charge_id=_object_id(intent.get("latest_charge")), metadata=metadata,
        webhook_trigger=trigger, **attribution, **experiment_of(metadata),
    )  # fmt: skip
    followers_attribute(row)
    return f"payment {row.amount} {row.currency}", [row.pk]


def _invoice(event: dict, trigger) -> tuple[str, list[int]]:
    """Remember what an invoice was for; attribute its payment if that is booked already."""
    invoice = event["data"]["object"]
    if invoice.get("paid_out_of_band"):  # a PaymentIntent may exist (a failed card attempt), but no money moved
        return _invoice_paid_out_of_band(event, invoice, trigger)
    intent_id = invoice_payment_intent(invoice)
    if not intent_id:
        return f"nothing to book: invoice {invoice['id']} was paid without a PaymentIntent", []
    _lock(intent_id)
    StripeObservation.objects.get_or_create(
        stripe_event_id=event["id"], kind=Seen.INVOICE, object_id=intent_id,
        defaults={"observed_at": _when(event), "data": invoice_summary(invoice)},
    )  # fmt: skip
    payment = IncomeEvent.objects.filter(kind=Kind.PAYMENT, stripe_object_id=intent_id).first()
    if payment is None:
        return f"invoice {invoice['id']} noted for its payment {intent_id}", []
    if payment.attribution_source:
        return f"invoice {invoice['id']}: payment already attributed", []
    attribution = income_invoice_attribution(invoice_summary(invoice))
    if not attribution["attribution_source"]:
        return f"invoice {invoice['id']}: its lines name no offer, model or task", []
    _attribute(payment, attribution, f"attributed from invoice {invoice['id']} ({event['id']})")
    followers_attribute(payment)
    return f"payment {intent_id} attributed from invoice {invoice['id']}", []


def invoice_payment_intent(invoice: dict) -> str:
    """The PaymentIntent that paid the invoice: `payment_intent` up to API 2025-02-24; from 2025-03-31 ("basil")
    on, the first paid entry of `payments`."""
    if invoice.get("payment_intent"):
        return _object_id(invoice["payment_intent"])
    for payment in (invoice.get("payments") or {}).get("data") or []:
        details = payment.get("payment") or {}
        if details.get("type") == "payment_intent" and payment.get("status", "paid") == "paid":
            return _object_id(details.get("payment_intent"))
    return ""


def _invoice_paid_out_of_band(event: dict, invoice: dict, trigger) -> tuple[str, list[int]]:
    """Money the customer paid outside Stripe (bank transfer, cheque) that the invoice was marked paid with."""
    if not invoice.get("amount_paid"):
        return f"nothing to book: invoice {invoice['id']} has no payment", []
    _lock(invoice["id"])
    if IncomeEvent.objects.filter(kind=Kind.PAYMENT, stripe_object_id=invoice["id"]).exists():
        return "already recorded", []
    currency = invoice["currency"].lower()
    row = IncomeEvent.objects.create(
        kind=Kind.PAYMENT, amount=amount_from_minor_units(invoice["amount_paid"], currency), currency=currency,
        occurred_at=_when(event), stripe_event_id=event["id"], stripe_object_id=invoice["id"],
        metadata=invoice.get("metadata") or {}, webhook_trigger=trigger,
        settlement_note=f"{NO_SETTLEMENT}paid out of band, no Stripe balance transaction",
        **income_invoice_attribution(invoice_summary(invoice)),
    )  # fmt: skip
    return f"payment {row.amount} {row.currency} (invoice paid out of band)", []


# Refunds --------------------------------------------------------------------------------------------------


def _refund(event: dict, trigger) -> tuple[str, list[int]]:
    obj = event["data"]["object"]
    if obj.get("object") == "charge":
        charge_id, intent_id, currency = obj["id"], _object_id(obj.get("payment_intent")), obj["currency"]
        refunds = ((obj.get("refunds") or {}).get("data")) or []
    else:
        charge_id, intent_id, currency = (
            _object_id(obj.get("charge")),
            _object_id(obj.get("payment_intent")),
            obj["currency"],
        )
        refunds = [obj]
    currency = currency.lower()
    _lock(intent_id or charge_id)
    when = _when(event)
    if obj.get("object") == "charge":
        _observe(event, Seen.REFUNDED_TOTAL, charge_id, when, {"amount_refunded": obj["amount_refunded"]})
    for refund in refunds:
        seen = {"refund": refund["id"], "amount": refund["amount"], "status": refund.get("status")}
        _observe(event, Seen.REFUND, charge_id, when, seen, item_id=refund["id"])
    if IncomeEvent.objects.filter(stripe_event_id=event["id"], kind__in=[Kind.REFUND, Kind.REFUND_FAILURE]).exists():
        return "already recorded", []
    target = amount_from_minor_units(refund_total_minor(charge_id), currency)
    booked = -IncomeEvent.objects.filter(
        stripe_object_id=charge_id, kind__in=[Kind.REFUND, Kind.REFUND_FAILURE]
    ).total()
    change = target - booked
    if change == 0:
        return f"refunds of {charge_id} already booked ({amount_display(booked, currency)})", []
    row = IncomeEvent.objects.create(
        kind=Kind.REFUND if change > 0 else Kind.REFUND_FAILURE, amount=-change, currency=currency, occurred_at=when,
        stripe_event_id=event["id"], stripe_object_id=charge_id, payment_intent_id=intent_id, charge_id=charge_id,
        metadata=obj.get("metadata") or {}, webhook_trigger=trigger,
        **_like_payment(intent_id, obj.get("metadata") or {}),
    )  # fmt: skip
    return f"{row.get_kind_display()} {row.amount} {row.currency}", [row.pk]


def refund_total_minor(charge_id: str) -> int:
    """What Stripe has refunded of the charge, by everything delivered so far, in minor units.

    The latest `charge.refunded` (by event time; a tie takes the larger) gives the refunded total at that time;
    refunds that failed or were canceled at or after it come off. Refunds known one by one (refund events) that
    have not failed are a lower bound when they are newer than every `charge.refunded`."""
    observations = StripeObservation.objects.filter(object_id=charge_id, kind__in=[Seen.REFUNDED_TOTAL, Seen.REFUND])
    totals, refunds = [], {}
    for seen in observations:
        if seen.kind == Seen.REFUNDED_TOTAL:
            totals.append((seen.observed_at, seen.data["amount_refunded"]))
            continue
        known = refunds.setdefault(seen.data["refund"], {"amount": seen.data["amount"], "failed_at": None})
        if seen.data.get("status") in REFUND_FAILED:
            known["failed_at"] = min(filter(None, [known["failed_at"], seen.observed_at]))
    not_failed = sum(refund["amount"] for refund in refunds.values() if refund["failed_at"] is None)
    if not totals:
        return not_failed
    at, refunded = max(totals)
    failed_since = sum(r["amount"] for r in refunds.values() if r["failed_at"] is not None and r["failed_at"] >= at)
    return max(refunded - failed_since, not_failed, 0)


# Disputes -------------------------------------------------------------------------------------------------


def _dispute(event: dict, trigger) -> tuple[str, list[int]]:
    """Each balance transaction of the dispute once: the withdrawal (amount and dispute fee) and, when won,
    the reinstatement. A lost dispute moves nothing more: its withdrawal stays."""
    dispute = event["data"]["object"]
    intent_id, charge_id = _object_id(dispute.get("payment_intent")), _object_id(dispute.get("charge"))
    _lock(intent_id or charge_id)
    booked = []
    for txn in dispute.get("balance_transactions") or []:
        if not isinstance(txn, dict):
            raise ValueError(f"dispute {dispute['id']}: balance transaction {txn} not expanded in the event")
        if IncomeEvent.objects.filter(balance_transaction_id=txn["id"]).exists():
            continue
        currency = dispute["currency"].lower()
        if txn.get("exchange_rate") is None and txn["currency"] == currency:
            amount = amount_from_minor_units(txn["amount"], currency)
        else:
            amount = amount_from_minor_units(dispute["amount"], currency).copy_sign(Decimal(txn["amount"]))
        row = IncomeEvent.objects.create(
            kind=Kind.DISPUTE, amount=amount, currency=currency,
            occurred_at=datetime.fromtimestamp(txn["created"], UTC),
            stripe_event_id=event["id"], stripe_object_id=dispute["id"], payment_intent_id=intent_id,
            charge_id=charge_id, metadata=dispute.get("metadata") or {}, webhook_trigger=trigger,
            **settlement_fields(txn), **_like_payment(intent_id, dispute.get("metadata") or {}),
        )  # fmt: skip
        booked.append(row)
    if not booked:
        return f"dispute {dispute['id']} ({dispute.get('status')}): nothing new to book", []
    return f"dispute {dispute['id']}: " + ", ".join(f"{row.amount} {row.currency}" for row in booked), []


HANDLERS = {  # every event type that can move money; README lists them and why
    "payment_intent.succeeded": _payment,
    "charge.refunded": _refund,
    "charge.refund.updated": _refund,
    "refund.created": _refund,
    "refund.updated": _refund,
    "refund.failed": _refund,
    "charge.dispute.created": _dispute,
    "charge.dispute.updated": _dispute,
    "charge.dispute.funds_withdrawn": _dispute,
    "charge.dispute.funds_reinstated": _dispute,
    "charge.dispute.closed": _dispute,
    "invoice.paid": _invoice,
    "invoice.payment_succeeded": _invoice,
}


# Settlement -----------------------------------------------------------------------------------------------


def settlement_fields(txn: dict) -> dict:
    """A Stripe balance transaction as ledger fields (settlement currency, its own decimals)."""
    currency = txn["currency"].lower()
    rate = txn.get("exchange_rate")
    return {
        "balance_transaction_id": txn["id"], "settlement_currency": currency,
        "settlement_amount": amount_from_minor_units(txn["amount"], currency),
        "fee": amount_from_minor_units(txn["fee"], currency), "net": amount_from_minor_units(txn["net"], currency),
        "exchange_rate": None if rate is None else Decimal(str(rate)), "settlement_note": "",
    }  # fmt: skip


# Attribution ----------------------------------------------------------------------------------------------


def income_attribution(*, metadata: dict) -> dict:
    """Offer, task, `ai_model` and task type named by Stripe metadata. The model and type come from the task,
    else from the offer, else from the metadata itself; whatever cannot be found stays empty."""
    task = _task_named(metadata.get("task_id"))
    offer = _offer_named(metadata)
    ai_model = (
        (task and task.ai_model_id)
        or (offer and offer.ai_model_id)
        or AIModel.objects.filter(name=str(metadata.get("ai_model", ""))).values_list("name", flat=True).first()
    )
    task_type_id = (
        (task and task.task_type_id)
        or (offer and offer.task_type_id)
        or TaskType.objects.filter(slug=str(metadata.get("task_type", ""))).values_list("pk", flat=True).first()
    )
    return {"task": task, "offer": offer, "ai_model_id": ai_model, "task_type_id": task_type_id}


def income_invoice_attribution(summary: dict) -> dict:
    """From an invoice's lines: the subscription's (or line's) metadata names the task, model or offer ("invoice
    line"); the line's price names the offer ("price") and, through it, the model and task type."""
    metadata = summary.get("metadata") or {}
    by_price = {"price_id": summary.get("price_id") or "", "product_id": summary.get("product_id") or ""}
    attribution = income_attribution(metadata={**by_price, **metadata})
    if not any(attribution.values()):
        reason = f"invoice {summary.get('invoice')}: no metadata on its lines, and their price is no offer's"
        return {**attribution, "attribution_source": Source.NONE, "unattributed_reason": reason}
    source = Source.INVOICE_LINE if any(income_attribution(metadata=metadata).values()) else Source.PRICE
    return {**attribution, "attribution_source": source, "unattributed_reason": ""}


def _from_metadata(metadata: dict, *, source: str = Source.METADATA) -> dict:
    attribution = income_attribution(metadata=metadata)
    if any(attribution.values()):
        return {**attribution, "attribution_source": source, "unattributed_reason": ""}
    reason = "no metadata" if not metadata else "metadata names no known offer, task, model or task type"
    return {**attribution, "attribution_source": Source.NONE, "unattributed_reason": reason}


def _from_invoice_observation(intent_id: str, invoice_id: str) -> dict:
    seen = StripeObservation.objects.filter(kind=Seen.INVOICE, object_id=intent_id).order_by("-observed_at").first()
    if seen is None:
        return {**income_attribution(metadata={}), "attribution_source": Source.NONE,
                "unattributed_reason": f"invoice {invoice_id}: its lines not received yet"}  # fmt: skip
    return income_invoice_attribution(seen.data)


def invoice_summary(invoice: dict) -> dict:
    """What attribution needs of an invoice: the subscription's and the first line's metadata, the line's price."""
    lines = (invoice.get("lines") or {}).get("data") or []
    subscription = invoice.get("subscription_details") or (invoice.get("parent") or {}).get("subscription_details")
    metadata = dict((subscription or {}).get("metadata") or {})
    price_id = product_id = None
    for line in lines:
        metadata = {**(line.get("metadata") or {}), **metadata}
        # Up to 2025-02-24 `price` is the Price; from 2025-03-31 on, `pricing.price_details` names price and product.
        price = line.get("price") or (line.get("pricing") or {}).get("price_details") or {}
        if isinstance(price, str):
            price_id = price_id or price
        else:
            price_id = price_id or _object_id(price.get("price") or price.get("id"))
            product_id = product_id or _object_id(price.get("product"))
    return {"invoice": invoice.get("id"), "metadata": metadata, "price_id": price_id, "product_id": product_id}


def _like_payment(intent_id: str, metadata: dict) -> dict:
    """Refunds and disputes are attributed like their payment; before it is booked, by their own metadata."""
    payment = IncomeEvent.objects.filter(kind=Kind.PAYMENT, payment_intent_id=intent_id).first() if intent_id else None
    if payment is not None:
        attributed = bool(payment.attribution_source)
        return {
            **{field: getattr(payment, field) for field in ATTRIBUTION_FIELDS + EXPERIMENT_FIELDS},
            "attribution_source": Source.PAYMENT if attributed else Source.NONE,
            "unattributed_reason": "" if attributed else "its payment is not attributed",
        }
    attribution = {**_from_metadata(metadata), **experiment_of(metadata)}
    if not attribution["attribution_source"]:
        attribution["unattributed_reason"] = f"its payment {intent_id or '(unknown)'} is not in the ledger (yet)"
    return attribution


def experiment_of(metadata: dict) -> dict:
    """The price experiment and variant a checkout put in the payment's metadata (apps.experiments)."""
    return {"experiment": str(metadata.get("experiment") or "")[:100],
            "experiment_variant": str(metadata.get("variant") or "")[:100]}  # fmt: skip


def followers_attribute(payment: IncomeEvent) -> None:
    """Refunds and disputes booked before their payment take its attribution (and experiment) now."""
    if payment.experiment:
        IncomeEvent.objects.filter(payment_intent_id=payment.stripe_object_id, experiment="").exclude(
            kind=Kind.PAYMENT
        ).update(experiment=payment.experiment, experiment_variant=payment.experiment_variant)
    if not payment.attribution_source:
        return
    followers = IncomeEvent.objects.filter(payment_intent_id=payment.stripe_object_id, attribution_source=Source.NONE)
    for row in followers.exclude(kind=Kind.PAYMENT):
        _attribute(
            row,
            {**{field: getattr(payment, field) for field in ATTRIBUTION_FIELDS}, "attribution_source": Source.PAYMENT},
            f"attributed like its payment {payment.stripe_event_id}",
        )


def _attribute(row: IncomeEvent, attribution: dict, why: str) -> None:
    """Only the attribution columns are written: the fee job may be writing the same row's fee meanwhile."""
    for name, value in attribution.items():
        setattr(row, name, value)
    row.unattributed_reason = ""
    row._change_reason = why
    row.save(update_fields=ATTRIBUTION_COLUMNS)


def _task_named(task_id) -> ExecutionTask | None:
    if not str(task_id or "").isdigit():
        return None
    return ExecutionTask.objects.filter(pk=int(task_id)).first()


def _offer_named(metadata: dict) -> OfferTemplate | None:
    """By `offer_id`, else by the Stripe product or price the checkout was for (old prices included)."""
    if str(metadata.get("offer_id", "")).isdigit():
        offer = OfferTemplate.objects.filter(pk=int(metadata["offer_id"])).first()
        if offer:
            return offer
    product_id = (
        metadata.get("product_id")
        or Price.objects.filter(id=metadata.get("price_id") or "").values_list("product_id", flat=True).first()
    )
    return OfferTemplate.objects.filter(stripe_product__id=product_id).first() if product_id else None


# Plumbing -------------------------------------------------------------------------------------------------


def _lock(key: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"income:{key}"])


def _observe(event: dict, kind: str, object_id: str, when: datetime, data: dict, item_id: str = "") -> None:
    StripeObservation.objects.get_or_create(
        stripe_event_id=event["id"], kind=kind, object_id=object_id, item_id=item_id,
        defaults={"observed_at": when, "data": data},
    )  # fmt: skip


def _when(event: dict) -> datetime:
    return datetime.fromtimestamp(event["created"], tz=UTC)


def _object_id(value) -> str:
    """An expandable field's id, whether Stripe sent the id or the object."""
    if isinstance(value, dict):
        return value.get("id") or ""
    return value or ""
