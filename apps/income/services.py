"""The income ledger's use cases: recording Stripe deliveries (booking.py decides the rows), reading fees from
Stripe afterwards (settlement.py, in a job), manual entries, and keeping deliveries from being lost or kept too
long (stranded deliveries retried by the scheduler; raw bodies pruned after their retention period)."""

from __future__ import annotations

import json
import logging
import traceback
from datetime import timedelta
from decimal import Decimal

import django_rq
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from djstripe.models import WebhookEventTrigger
from rq import Retry

from apps.auditlog.services import audit_record
from apps.core.money import currency_decimals
from apps.offers.services import stripe_setup_problem

from .booking import stripe_event_book
from .models import IncomeEvent, StrandedWebhook

logger = logging.getLogger(__name__)
Kind = IncomeEvent.Kind
RECORD_JOB = "apps.income.jobs.record_stripe_event"
DETAILS_JOB = "apps.income.jobs.fetch_stripe_details"
RECONCILE_JOB = "apps.income.jobs.reconcile_day"
RECORD_RETRY_SECONDS = [5, 30, 120]
DETAILS_RETRY_SECONDS = [10, 60, 300, 1800]
PRUNED_BODY = '{"pruned": "raw body removed after the retention period (INCOME_WEBHOOK_BODY_RETENTION_DAYS)"}'


def income_record_job_push(*, trigger_id: int, retry: bool = True) -> None:
    """Hand a verified, stored webhook to the worker. Raises RedisError when the queue is unreachable."""
    django_rq.get_queue("default").enqueue(
        RECORD_JOB, trigger_id, job_timeout=60,
        retry=Retry(max=len(RECORD_RETRY_SECONDS), interval=RECORD_RETRY_SECONDS) if retry else None,
    )  # fmt: skip


def income_details_job_push(*, row_ids: list[int]) -> None:
    """After the commit, read the rows' balance transactions (and invoices) from Stripe in a job of their own."""
    if not row_ids:
        return
    problem = stripe_setup_problem()
    if problem:
        IncomeEvent.objects.filter(pk__in=row_ids).update(settlement_note=f"Not read from Stripe: {problem}"[:255])
        return
    queue = django_rq.get_queue("default")
    retry = Retry(max=len(DETAILS_RETRY_SECONDS), interval=DETAILS_RETRY_SECONDS)
    for row_id in row_ids:
        transaction.on_commit(lambda row_id=row_id: queue.enqueue(DETAILS_JOB, row_id, job_timeout=60, retry=retry))


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
        StrandedWebhook.objects.filter(trigger_id=trigger_id).update(last_error=f"{type(error).__name__}: {error}")
        raise
    WebhookEventTrigger.objects.filter(pk=trigger_id).update(processed=True, exception="", traceback="")
    StrandedWebhook.objects.filter(trigger_id=trigger_id, recorded_at=None).update(recorded_at=timezone.now())
    return outcome


def income_record_stripe_event(*, event: dict, trigger: WebhookEventTrigger | None = None) -> str:
    """Turn one Stripe event into ledger rows, once: a replayed, re-sent or concurrent duplicate is a no-op."""
    with transaction.atomic():
        outcome, new_row_ids = stripe_event_book(event=event, trigger=trigger)
        income_details_job_push(row_ids=new_row_ids)
    return outcome


@transaction.atomic
def income_record_manual(
    *, amount: Decimal, currency: str, occurred_at, reason: str, actor, offer=None, task=None, ai_model=None,
    task_type=None,
) -> IncomeEvent:  # fmt: skip
    """A manual entry for money outside Stripe; model and type default to the task's, then the offer's."""
    row = IncomeEvent(
        kind=Kind.MANUAL, amount=amount, currency=(currency or "").lower(), occurred_at=occurred_at,
        reason=(reason or "").strip(), created_by=actor, offer=offer, task=task,
        attribution_source=IncomeEvent.AttributionSource.MANUAL,
        ai_model=ai_model or (task and task.ai_model) or (offer and offer.ai_model),
        task_type=task_type or (task and task.task_type) or (offer and offer.task_type),
    )  # fmt: skip
    manual_entry_validate(row)
    row.save()
    audit_record(action="income.manual", actor=actor, target=row,
                 summary=f"{row.amount} {row.currency.upper()}: {row.reason}",
                 details={"amount": row.amount, "currency": row.currency, "task": row.task_id, "offer": row.offer_id,
                          "ai_model": row.ai_model_id, "task_type": row.task_type_id})  # fmt: skip
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


def income_stranded_retry() -> dict[str, int]:
    """The scheduler's part: a verified delivery still unrecorded after RQ's retries (or never queued) is
    stranded, since Stripe had its 200 and will not send it again. Each is listed, retried with growing delays
    (INCOME_STRANDED_RETRY_SECONDS, doubling, at most 6 hours apart) and logged as an error until recorded."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.INCOME_WEBHOOK_STRANDED_AFTER_SECONDS)
    known = StrandedWebhook.objects.values("trigger_id")
    newly = WebhookEventTrigger.objects.filter(valid=True, processed=False, created__lt=cutoff).exclude(pk__in=known)
    stranded = 0
    for trigger in newly.only("pk", "body", "exception"):
        event = _event_head(trigger.body)
        StrandedWebhook.objects.get_or_create(trigger_id=trigger.pk, defaults={
            "stripe_event_id": event.get("id", ""), "event_type": event.get("type", ""), "next_attempt_at": now,
            "last_error": trigger.exception,
        })  # fmt: skip
        logger.error("Stripe delivery %s (%s) stranded: %s", trigger.pk, event.get("type"), trigger.exception)
        stranded += 1
    settled = StrandedWebhook.objects.filter(recorded_at=None, trigger__processed=True).update(recorded_at=now)
    retried = 0
    for row in StrandedWebhook.objects.filter(recorded_at=None, next_attempt_at__lte=now):
        row.attempts += 1
        delay = min(settings.INCOME_STRANDED_RETRY_SECONDS * 2 ** (row.attempts - 1), 6 * 3600)
        row.next_attempt_at = now + timedelta(seconds=delay)
        row.save(update_fields=["attempts", "next_attempt_at"])
        income_record_job_push(trigger_id=row.trigger_id, retry=False)
        retried += 1
    return {"stranded": stranded, "retried": retried, "recorded_since": settled}


def _event_head(body: str) -> dict:
    try:
        event = json.loads(body)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def income_webhook_bodies_prune() -> int:
    """Raw bodies of recorded deliveries (replays and ignored types too) older than the retention period are
    removed; the delivery rows stay for audit, and the ledger keeps each event's id and metadata."""
    cutoff = timezone.now() - timedelta(days=settings.INCOME_WEBHOOK_BODY_RETENTION_DAYS)
    old = WebhookEventTrigger.objects.filter(processed=True, created__lt=cutoff).exclude(body=PRUNED_BODY)
    return old.update(body=PRUNED_BODY, headers={})
