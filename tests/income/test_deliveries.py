"""What happens to deliveries after the webhook view: any order books the same ledger, stranded deliveries are
retried by the scheduler, raw bodies are pruned after their retention period, odd payments are explained."""

import itertools
import json
import random
from datetime import timedelta
from decimal import Decimal

import django_rq
import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from djstripe.models import WebhookEventTrigger

from apps.income.models import IncomeEvent, StrandedWebhook
from apps.income.services import (
    PRUNED_BODY,
    income_record_stripe_event,
    income_stranded_retry,
    income_webhook_bodies_prune,
)
from tests.fakes.stripe_api import FakeStripe
from tests.fakes.stripe_events import StripeMoney
from tests.income.conftest import stripe_event

pytestmark = pytest.mark.django_db


class Rollback(Exception):
    pass


@pytest.fixture
def money(settings):
    """Movements in an unstarted stand-in (events only); no Stripe key, so no fee reading is queued."""
    settings.STRIPE_TEST_SECRET_KEY = ""
    fake = FakeStripe()
    seconds = itertools.count(1_795_000_000, 60)
    fake.clock = lambda: next(seconds)
    return StripeMoney(fake)


def ledger_after(events: list[dict]) -> dict:
    """Book the events, read the ledger per kind, and undo it all (so that many orders can be tried)."""
    try:
        with transaction.atomic():
            for event in events:
                income_record_stripe_event(event=event)
            outcome = dict(IncomeEvent.objects.values_list("kind").annotate(total=Sum("amount")))
            raise Rollback
    except Rollback:
        return outcome


def test_any_order_with_replays_books_the_same_ledger(money):
    intent = money.pay(4900, metadata={"ai_model": "m"})
    failed = money.refund(intent["latest_charge"], 1000)
    money.refund_fail(failed["id"])
    money.refund(intent["latest_charge"], 300)
    money.refund(intent["latest_charge"], 200)
    won = money.pay(2500)
    money.dispute_close(money.dispute(won["latest_charge"])["id"], won=True)
    lost = money.pay(1500)
    money.dispute_close(money.dispute(lost["latest_charge"])["id"], won=False)
    expected = {"payment": Decimal("89.00"), "refund": Decimal("-5.00"), "dispute": Decimal("-15.00")}
    shuffler = random.Random(16)  # noqa: S311 - an order, not a secret
    orders = [money.events, money.events[::-1]]
    for _ in range(60):
        events = money.events + shuffler.sample(money.events, 5)
        shuffler.shuffle(events)
        orders.append(events)
    outcomes = [ledger_after(events) for events in orders]
    for outcome in outcomes:
        net_refunds = outcome.pop("refund", 0) + outcome.pop("refund_failure", 0)
        assert {**outcome, "refund": net_refunds} == expected


def test_a_zero_amount_payment_says_so_and_books_nothing():
    outcome = income_record_stripe_event(event=stripe_event("payment_intent.succeeded", amount_received=0))
    assert outcome == "nothing to book: pi_3PaymentIntent00000001 received 0 USD"
    assert not IncomeEvent.objects.exists()


def test_a_refund_of_a_payment_never_seen_says_why_it_is_unattributed():
    income_record_stripe_event(event=stripe_event("charge.refunded", payment_intent="pi_unknown", amount_refunded=500))
    row = IncomeEvent.objects.get()
    assert (row.amount, row.attribution_source) == (Decimal("-5.00"), "")
    assert row.unattributed_reason == "its payment pi_unknown is not in the ledger (yet)"


def stored_delivery(event: dict, *, minutes_ago: int, processed: bool = False) -> WebhookEventTrigger:
    trigger = WebhookEventTrigger.objects.create(
        valid=True, processed=processed, body=json.dumps(event), headers={}, remote_ip="127.0.0.1"
    )
    WebhookEventTrigger.objects.filter(pk=trigger.pk).update(created=timezone.now() - timedelta(minutes=minutes_ago))
    return trigger


def test_a_stranded_delivery_is_listed_and_retried_with_growing_delays(settings, redis_test_db,
                                                                       django_capture_on_commit_callbacks):  # fmt: skip
    settings.INCOME_STRANDED_RETRY_SECONDS = 300
    trigger = stored_delivery(stripe_event("payment_intent.succeeded"), minutes_ago=30)
    WebhookEventTrigger.objects.filter(pk=trigger.pk).update(exception="OperationalError: the database went away")
    stored_delivery(stripe_event("payment_intent.succeeded", id="pi_recent"), minutes_ago=1)  # RQ still has it

    with django_capture_on_commit_callbacks(execute=True):  # jobs reach Redis when the transaction commits
        assert income_stranded_retry() == {"stranded": 1, "retried": 1, "recorded_since": 0}
    stranded = StrandedWebhook.objects.get()
    assert (stranded.trigger_id, stranded.event_type, stranded.attempts) == (trigger.pk, "payment_intent.succeeded", 1)
    assert stranded.last_error == "OperationalError: the database went away"
    first_delay = stranded.next_attempt_at - timezone.now()
    assert timedelta(seconds=290) < first_delay <= timedelta(seconds=300)
    [job] = django_rq.get_queue("default").get_jobs()
    assert job.args == (trigger.pk,)

    assert income_stranded_retry()["retried"] == 0  # not due yet
    StrandedWebhook.objects.update(next_attempt_at=timezone.now())
    income_stranded_retry()
    stranded.refresh_from_db()
    assert stranded.attempts == 2
    assert timedelta(seconds=590) < stranded.next_attempt_at - timezone.now() <= timedelta(seconds=600)


def test_recording_a_stranded_delivery_closes_it(redis_test_db, django_capture_on_commit_callbacks):
    trigger = stored_delivery(stripe_event("payment_intent.succeeded"), minutes_ago=30)
    with django_capture_on_commit_callbacks(execute=True):
        income_stranded_retry()
    job = django_rq.get_queue("default").get_jobs()[0]
    job.perform()
    stranded = StrandedWebhook.objects.get()
    assert stranded.recorded_at is not None and IncomeEvent.objects.count() == 1
    assert WebhookEventTrigger.objects.get(pk=trigger.pk).processed
    assert income_stranded_retry() == {"stranded": 0, "retried": 0, "recorded_since": 0}


def test_raw_bodies_of_recorded_deliveries_are_pruned_after_the_retention_period(settings):
    settings.INCOME_WEBHOOK_BODY_RETENTION_DAYS = 30
    old_done = stored_delivery(stripe_event("payment_intent.succeeded"), minutes_ago=31 * 24 * 60, processed=True)
    old_pending = stored_delivery(stripe_event("payment_intent.succeeded"), minutes_ago=31 * 24 * 60)
    recent_done = stored_delivery(stripe_event("payment_intent.succeeded"), minutes_ago=60, processed=True)

    assert income_webhook_bodies_prune() == 1
    bodies = dict(WebhookEventTrigger.objects.values_list("pk", "body"))
    assert bodies[old_done.pk] == PRUNED_BODY and json.loads(bodies[old_pending.pk])["type"]
    assert json.loads(bodies[recent_done.pk])["type"] == "payment_intent.succeeded"
    assert income_webhook_bodies_prune() == 0


def test_an_invoice_paid_out_of_band_is_a_payment_even_with_a_payment_intent_from_a_failed_attempt():
    event = stripe_event("payment_intent.succeeded", id="in_oob")
    event.update(type="invoice.paid")
    event["data"]["object"] = {"id": "in_oob", "object": "invoice", "amount_paid": 12000, "currency": "usd",
                               "paid_out_of_band": True, "payment_intent": "pi_failed_card", "metadata": {},
                               "lines": {"data": []}}  # fmt: skip
    assert income_record_stripe_event(event=event) == "payment 120.00 usd (invoice paid out of band)"
    row = IncomeEvent.objects.get()
    assert row.stripe_object_id == "in_oob"
    assert row.settlement_note == "none: paid out of band, no Stripe balance transaction"


def test_invoices_in_2025_03_31_shapes_attribute_their_payment(two_models):
    """From API 2025-03-31 on, the invoice names its PaymentIntent in `payments` and its subscription's metadata
    under `parent`."""
    income_record_stripe_event(event=stripe_event("payment_intent.succeeded", id="pi_basil", metadata={}))
    event = stripe_event("payment_intent.succeeded", event_id="evt_basil_invoice")
    event.update(type="invoice.paid")
    event["data"]["object"] = {
        "id": "in_basil", "object": "invoice", "amount_paid": 4900, "currency": "usd",
        "payments": {"data": [{"payment": {"type": "payment_intent", "payment_intent": "pi_basil"}, "status": "paid"}]},
        "parent": {"subscription_details": {"metadata": {"ai_model": "model-beta", "task_type": "self_improvement"}}},
        "lines": {"data": [{"pricing": {"price_details": {"price": "price_unknown", "product": "prod_unknown"}}}]},
    }  # fmt: skip
    assert income_record_stripe_event(event=event) == "payment pi_basil attributed from invoice in_basil"
    row = IncomeEvent.objects.get()
    assert (row.ai_model_id, row.task_type.slug, row.attribution_source) == ("model-beta", "self_improvement",
                                                                              "invoice_line")  # fmt: skip
