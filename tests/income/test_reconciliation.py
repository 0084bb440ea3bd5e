"""Daily reconciliation of the ledger with Stripe's balance transactions (through the Stripe API stand-in)."""

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from apps.income.models import IncomeEvent, ReconciliationRun
from apps.income.reconciliation import income_reconcile_day
from apps.income.services import income_record_stripe_event
from apps.income.settlement import income_stripe_details_fetch
from tests.fakes.stripe_events import StripeMoney

pytestmark = pytest.mark.django_db
DAY = date(2026, 11, 20)


@pytest.fixture
def money(fake_stripe):
    seconds = itertools.count(int(datetime(2026, 11, 20, 9, tzinfo=UTC).timestamp()), 60)
    fake_stripe.clock = lambda: next(seconds)
    return StripeMoney(fake_stripe)


def book(events: list[dict]) -> None:
    """What the worker does for each delivery: book it, then read each new row's balance transaction."""
    for event in events:
        income_record_stripe_event(event=event)
    for row_id in IncomeEvent.objects.filter(fee__isnull=True).values_list("pk", flat=True):
        income_stripe_details_fetch(row_id=row_id)


def test_a_day_that_agrees_is_matched(money):
    intent = money.pay(4900, metadata={"ai_model": "none"})
    money.refund(intent["latest_charge"], 1000)
    money.dispute_close(money.dispute(money.pay(2500)["latest_charge"])["id"], won=True)
    book(money.events)

    run = income_reconcile_day(day=DAY)
    assert (run.outcome, run.stripe_transactions, run.ledger_rows) == ("matched", 5, 5)
    assert not run.differences.exists()


def test_seeded_differences_are_reported_exactly(money, fake_stripe):
    kept = money.pay(4900)
    book(money.events)
    money.events.clear()
    lost = money.pay(1200)  # Stripe has it; its deliveries never reach the ledger
    money.events.clear()
    wrong_fee = IncomeEvent.objects.get(stripe_object_id=kept["id"])
    IncomeEvent.objects.filter(pk=wrong_fee.pk).update(fee=Decimal("1.50"), net=Decimal("47.50"))
    phantom = IncomeEvent.objects.create(
        kind="payment", amount=Decimal("5.00"), currency="usd", occurred_at=datetime(2026, 11, 20, 12, tzinfo=UTC),
        stripe_event_id="evt_phantom", stripe_object_id="pi_phantom", balance_transaction_id="txn_phantom",
        settlement_currency="usd", settlement_amount=Decimal("5.00"), fee=Decimal("0.45"), net=Decimal("4.55"),
    )  # fmt: skip

    run = income_reconcile_day(day=DAY)
    found = sorted((d.kind, d.source_id, d.stripe_value, d.ledger_value) for d in run.differences.all())
    assert run.outcome == "differences"
    assert found == sorted([
        ("fee", kept["latest_charge"], Decimal("1.72"), Decimal("1.50")),
        ("missing_in_ledger", lost["latest_charge"], Decimal("12.00"), None),
        ("missing_in_stripe", "pi_phantom", None, Decimal("5.00")),
    ])  # fmt: skip
    assert run.differences.get(kind="fee").ledger_row == wrong_fee
    assert run.differences.get(kind="missing_in_stripe").ledger_row == phantom


def test_reconciliation_fills_in_fees_the_ledger_never_read(money, settings):
    settings.STRIPE_TEST_SECRET_KEY, key = "", settings.STRIPE_TEST_SECRET_KEY  # webhooks arrive, the API is off
    money.pay(4900)
    for event in money.events:
        income_record_stripe_event(event=event)
    row = IncomeEvent.objects.get()
    assert row.fee is None and row.settlement_note.startswith("Not read from Stripe")
    settings.STRIPE_TEST_SECRET_KEY = key

    assert income_reconcile_day(day=DAY).outcome == "matched"
    row.refresh_from_db()
    assert (row.fee, row.net, row.settlement_currency) == (Decimal("1.720"), Decimal("47.280"), "usd")


def test_stripe_unreachable_is_a_failed_run_that_says_why(money, fake_stripe):
    fake_stripe.fail_next("GET", "/v1/balance_transactions", "server_error", "Stripe is having a bad day")
    run = income_reconcile_day(day=DAY)
    assert (run.outcome, run.error) == (ReconciliationRun.Outcome.FAILED, "APIError: Stripe is having a bad day")
