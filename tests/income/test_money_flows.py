"""Money as Stripe moves it, end to end: the stand-in makes the objects and the events a payment, refund,
dispute or invoice causes; the events reach the real webhook view in shuffled order with replays; real RQ
workers book them and read each row's balance transaction back from the stand-in."""

import itertools
import random
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from apps.income.models import IncomeEvent
from apps.income.reconciliation import income_reconcile_day
from apps.income.selectors import roi_by_model_and_type
from apps.offers.models import OfferTemplate
from apps.offers.services import offer_publish
from tests.fakes.stripe_api import SECRET_KEY
from tests.fakes.stripe_events import StripeMoney
from tests.income.conftest import finished_task

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
SEEDS = (7, 2026)


@pytest.fixture
def money(fake_stripe):
    """Each movement one minute after the previous, as separate requests to Stripe would be."""
    minutes = itertools.count(int(time.time()) - 3600, 60)
    fake_stripe.clock = lambda: next(minutes)
    return StripeMoney(fake_stripe)


@pytest.fixture
def deliver(post_event, run_workers, fake_stripe):
    def deliver_all(money: StripeMoney, seed: int) -> None:
        """Every event once, a third of them twice, in a shuffled order; then workers until the queue is empty."""
        shuffler = random.Random(seed)  # noqa: S311 - an order, not a secret
        events = money.events + shuffler.sample(money.events, len(money.events) // 3)
        shuffler.shuffle(events)
        for event in events:
            assert post_event(event).status_code == 200
        run_workers(STRIPE_API_BASE=fake_stripe.base_url, STRIPE_TEST_SECRET_KEY=SECRET_KEY)

    return deliver_all


def totals(**filters) -> dict[str, Decimal]:
    rows = IncomeEvent.objects.filter(**filters)
    sums = rows.aggregate(gross=Sum("amount"), fee=Sum("fee"), net=Sum("net"), settled=Sum("settlement_amount"))
    assert not rows.filter(fee__isnull=True).exists(), "every row's balance transaction was read"
    return sums


@pytest.fixture
def task(two_models):
    return finished_task(two_models[0], "implement_idea")


@pytest.mark.parametrize("seed", SEEDS)
def test_lost_dispute_leaves_net_minus_the_fees(money, deliver, task, seed):
    intent = money.pay(4900, metadata={"task_id": str(task.pk)})
    dispute = money.dispute(intent["latest_charge"])
    money.dispute_close(dispute["id"], won=False)
    deliver(money, seed)

    assert sorted(IncomeEvent.objects.values_list("kind", "amount")) == [
        ("dispute", Decimal("-49.000")), ("payment", Decimal("49.000")),
    ]  # fmt: skip
    money_moved = totals()
    # Card fee 2.9 % + 0.30 = 1.72, dispute fee 15.00: what the business lost is exactly the fees.
    assert money_moved["fee"] == Decimal("16.72")
    assert (money_moved["gross"], money_moved["net"]) == (0, -money_moved["fee"])
    dispute_row = IncomeEvent.objects.get(kind="dispute")
    assert (dispute_row.task, dispute_row.ai_model_id, dispute_row.attribution_source) == (
        task,
        "model-alpha",
        "payment",
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_won_dispute_returns_to_the_original_payment(money, deliver, task, seed):
    intent = money.pay(4900, metadata={"task_id": str(task.pk)})
    dispute = money.dispute(intent["latest_charge"])
    money.dispute_close(dispute["id"], won=True)
    deliver(money, seed)

    payment = IncomeEvent.objects.get(kind="payment")
    assert IncomeEvent.objects.filter(kind="dispute").count() == 2  # withdrawn, then reinstated
    assert totals() == totals(kind="payment")
    assert (payment.amount, payment.fee, payment.net) == (Decimal("49.000"), Decimal("1.720"), Decimal("47.280"))


@pytest.mark.parametrize("seed", SEEDS)
def test_failed_refund_is_reversed_and_a_later_smaller_refund_still_counts(money, deliver, task, seed):
    intent = money.pay(4900, metadata={"task_id": str(task.pk)})
    failed = money.refund(intent["latest_charge"], 1000)
    money.refund_fail(failed["id"])
    money.refund(intent["latest_charge"], 300)  # Stripe's refunded total is now 3.00, lower than before
    deliver(money, seed)

    refunds = IncomeEvent.objects.exclude(kind="payment")
    assert refunds.aggregate(total=Sum("amount"))["total"] == Decimal("-3.00")
    assert totals()["gross"] == Decimal("46.00")
    assert {(row.task_id, row.ai_model_id) for row in refunds} == {(task.pk, "model-alpha")}
    # However the deliveries fell into rows, they agree with Stripe's balance history.
    days = {row.occurred_at.date() for row in IncomeEvent.objects.all()}
    runs = [income_reconcile_day(day=day) for day in sorted(days)]
    assert [(run.outcome, run.error) for run in runs] == [("matched", "")] * len(runs)


@pytest.mark.parametrize("seed", SEEDS)
def test_subscription_renewals_are_attributed_from_their_invoice_lines(money, deliver, fake_stripe, two_models,
                                                                       seed):  # fmt: skip
    alpha, beta = two_models
    offer = OfferTemplate.objects.create(
        name="Code review, monthly", slug="review-monthly", description="Every month", billing="month",
        task_type_id=finished_task(beta, "self_improvement").task_type_id, ai_model=beta, price="99.00",
    )  # fmt: skip
    offer_publish(offer_id=offer.pk)
    offer.refresh_from_db()
    task = finished_task(alpha, "implement_idea")
    by_price = money.subscribe(offer.stripe_price.id, metadata={})
    by_task = money.subscribe(offer.stripe_price.id, metadata={"task_id": str(task.pk)})
    for subscription in (by_price, by_task):
        money.invoice_paid(subscription["id"], billing_reason="subscription_create")
        money.invoice_paid(subscription["id"])  # the renewal: a PaymentIntent without metadata, as Stripe sends
    deliver(money, seed)

    payments = IncomeEvent.objects.filter(kind="payment")
    assert payments.count() == 4
    assert {(p.offer_id, p.ai_model_id, p.task_type.slug, p.attribution_source) for p in payments if not p.task_id} == {
        (offer.pk, "model-beta", "self_improvement", "price"),
    }  # fmt: skip
    with_task = {(p.task_id, p.ai_model_id, p.attribution_source) for p in payments if p.task_id}
    assert with_task == {(task.pk, "model-alpha", "invoice_line")}


def test_roi_shows_gross_and_net_after_fees_refunds_and_disputes(money, deliver, task):
    kept = money.pay(4900, metadata={"task_id": str(task.pk)})
    money.refund(kept["latest_charge"], 900)
    lost = money.pay(2000, metadata={"task_id": str(task.pk)})
    money.dispute_close(money.dispute(lost["latest_charge"])["id"], won=False)
    deliver(money, 1)

    today = IncomeEvent.objects.earliest("occurred_at").occurred_at.date()
    report = roi_by_model_and_type(since=today, until=today + timedelta(days=2), currency="usd")
    [row] = report.rows
    assert row.income == Decimal("40.00")  # 49 - 9 + 20 - 20
    fees = IncomeEvent.objects.aggregate(fees=Sum("fee"))["fees"]  # 1.72 + 0.88 + 15.00
    assert fees == Decimal("17.60")
    assert row.income_net == row.income - fees
    assert report.settlement["usd"].net == row.income_net
