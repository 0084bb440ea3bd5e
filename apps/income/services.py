"""The income ledger: Stripe events and manual entries become `IncomeEvent` rows, each payment counted once.

Which Stripe events count (README, "Income and ROI"): `payment_intent.succeeded` is the one payment event (every
Stripe payment, one-off or invoiced, is exactly one succeeded PaymentIntent); `charge.refunded` carries refunds,
full or partial. Everything else is acknowledged and ignored, so registering more event types never double counts.
"""

from __future__ import annotations

import traceback
from datetime import UTC, datetime
from decimal import Decimal

import django_rq
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from djstripe.models import Price, WebhookEventTrigger
from rq import Retry

from apps.core.money import amount_from_minor_units, currency_decimals
from apps.execution.models import AIModel, ExecutionTask, TaskType
from apps.offers.models import OfferTemplate

from .models import IncomeEvent

Kind = IncomeEvent.Kind
RECORD_JOB = "apps.income.jobs.record_stripe_event"
PAYMENT_EVENT, REFUND_EVENT = "payment_intent.succeeded", "charge.refunded"
COUNTED_EVENTS = (PAYMENT_EVENT, REFUND_EVENT)


def income_record_job_push(*, trigger_id: int) -> None:
    """Hand a verified, stored webhook to the worker. Raises RedisError when the queue is unreachable."""
    django_rq.get_queue("default").enqueue(
        RECORD_JOB, trigger_id, job_timeout=60, retry=Retry(max=3, interval=[5, 30, 120])
    )


def income_record_trigger(*, trigger_id: int) -> str:
    """Record the event a stored webhook carries (the job), then mark the webhook processed."""
    trigger = WebhookEventTrigger.objects.filter(pk=trigger_id).first()
    if trigger is None:
        return "webhook gone"
    try:
        outcome = income_record_stripe_event(event=trigger.json_body, trigger=trigger)
    except Exception as error:  # kept on the webhook for the admin, then RQ retries the job
        WebhookEventTrigger.objects.filter(pk=trigger_id).update(
            exception=f"{type(error).__name__}: {error}"[:128], traceback=traceback.format_exc()
        )
        raise
    WebhookEventTrigger.objects.filter(pk=trigger_id).update(processed=True, exception="", traceback="")
    return outcome


def income_record_stripe_event(*, event: dict, trigger: WebhookEventTrigger | None = None) -> str:
    """Turn one Stripe event into ledger rows, once: a replayed, re-sent or concurrent duplicate is a no-op."""
    if event.get("type") not in COUNTED_EVENTS:
        return f"ignored {event.get('type')}"
    if IncomeEvent.objects.filter(stripe_event_id=event["id"]).exists():
        return "already recorded"
    record = _payment_record if event["type"] == PAYMENT_EVENT else _refund_record
    try:
        with transaction.atomic():
            return record(event, trigger)
    except IntegrityError:
        # Another worker recorded this event (or this payment) between our check and our insert.
        if IncomeEvent.objects.filter(stripe_event_id=event["id"]).exists() or event["type"] == PAYMENT_EVENT:
            return "already recorded"
        raise


def _payment_record(event: dict, trigger) -> str:
    intent = event["data"]["object"]
    metadata = intent.get("metadata") or {}
    row = IncomeEvent(
        kind=Kind.PAYMENT,
        amount=amount_from_minor_units(intent["amount_received"], intent["currency"]),
        currency=intent["currency"].lower(),
        occurred_at=datetime.fromtimestamp(event["created"], tz=UTC),
        stripe_event_id=event["id"],
        stripe_object_id=intent["id"],
        payment_intent_id=intent["id"],
        metadata=metadata,
        webhook_trigger=trigger,
        **income_attribution(metadata=metadata),
    )
    row.save()
    # Refunds that arrived before their payment take its attribution now.
    attribution = {field: getattr(row, field) for field in ("offer", "task", "ai_model", "task_type")}
    refunds = IncomeEvent.objects.filter(kind=Kind.REFUND, payment_intent_id=intent["id"]).unattributed()
    for refund in refunds.filter(offer__isnull=True, task__isnull=True):
        for field, value in attribution.items():
            setattr(refund, field, value)
        refund._change_reason = f"attributed like its payment {event['id']}"
        refund.save()
    return f"payment {row.amount} {row.currency}"


def _refund_record(event: dict, trigger) -> str:
    """Refund rows of a charge add up to its latest `amount_refunded`: each `charge.refunded` event adds what is
    not yet in the ledger, so partial refunds arriving in any order still total exactly what Stripe refunded."""
    charge = event["data"]["object"]
    with connection.cursor() as cursor:  # one charge's refunds are recorded one at a time
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"income-refund:{charge['id']}"])
    if IncomeEvent.objects.filter(stripe_event_id=event["id"]).exists():
        return "already recorded"
    refunded = amount_from_minor_units(charge["amount_refunded"], charge["currency"])
    recorded = -IncomeEvent.objects.filter(kind=Kind.REFUND, stripe_object_id=charge["id"]).total()
    if refunded <= recorded:
        return "refund already counted by a later event"
    payment_intent_id = charge.get("payment_intent") or ""
    payment = IncomeEvent.objects.filter(kind=Kind.PAYMENT, payment_intent_id=payment_intent_id).first()
    metadata = charge.get("metadata") or {}
    attribution = (
        {field: getattr(payment, field) for field in ("offer", "task", "ai_model", "task_type")}
        if payment and payment_intent_id
        else income_attribution(metadata=metadata)
    )
    row = IncomeEvent.objects.create(
        kind=Kind.REFUND,
        amount=recorded - refunded,
        currency=charge["currency"].lower(),
        occurred_at=datetime.fromtimestamp(event["created"], tz=UTC),
        stripe_event_id=event["id"],
        stripe_object_id=charge["id"],
        payment_intent_id=payment_intent_id,
        metadata=metadata,
        webhook_trigger=trigger,
        **attribution,
    )
    return f"refund {row.amount} {row.currency}"


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


@transaction.atomic
def income_record_manual(
    *, amount: Decimal, currency: str, occurred_at, reason: str, actor, offer=None, task=None, ai_model=None,
    task_type=None,
) -> IncomeEvent:  # fmt: skip
    """A manual entry for money outside Stripe; model and type default to the task's, then the offer's."""
    row = IncomeEvent(
        kind=Kind.MANUAL, amount=amount, currency=(currency or "").lower(), occurred_at=occurred_at,
        reason=(reason or "").strip(), created_by=actor, offer=offer, task=task,
        ai_model=ai_model or (task and task.ai_model) or (offer and offer.ai_model),
        task_type=task_type or (task and task.task_type) or (offer and offer.task_type),
    )  # fmt: skip
    manual_entry_validate(row)
    row.save()
    return row


def manual_entry_validate(row: IncomeEvent) -> None:
    """Everything wrong with a manual entry at once, by field."""
    problems = {}
    if not row.reason:
        problems["reason"] = "Say why this money is entered by hand (e.g. 'bank transfer, invoice 2026-114')."
    if row.amount is None or row.amount == 0:
        problems["amount"] = "Enter a non-zero amount (negative to correct an earlier entry)."
    elif row.amount != row.amount.quantize(Decimal(1).scaleb(-currency_decimals(row.currency))):
        problems["amount"] = f"{row.currency.upper()} amounts have at most {currency_decimals(row.currency)} decimals."
    if len(row.currency) != 3 or not row.currency.isalpha():
        problems["currency"] = "Enter a three-letter currency code such as usd."
    if problems:
        raise ValidationError(problems)


def income_replay_unprocessed() -> int:
    """Queue again every verified webhook not yet recorded (after a queue outage); safe to repeat."""
    trigger_ids = list(WebhookEventTrigger.objects.filter(valid=True, processed=False).values_list("pk", flat=True))
    for trigger_id in trigger_ids:
        income_record_job_push(trigger_id=trigger_id)
    return len(trigger_ids)
