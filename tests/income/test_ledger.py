import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.execution.models import ExecutionTask, TaskType
from apps.income.models import IncomeEvent, IncomeRollup, TaskRollup
from apps.income.rebuild import rollups_rebuild
from apps.income.selectors import roi_by_model_and_type
from apps.income.services import income_record_manual, income_record_stripe_event
from apps.offers.models import OfferTemplate
from tests.income.conftest import finished_task, stripe_event

pytestmark = pytest.mark.django_db
DAY = datetime(2026, 11, 20, 12, tzinfo=UTC)


def payment(event_id="evt_pay_1", pi="pi_1", cents=4900, currency="usd", at=DAY, **metadata):
    return stripe_event("payment_intent.succeeded", event_id=event_id, at=at, id=pi, amount_received=cents,
                        currency=currency, metadata=metadata)  # fmt: skip


def refund(event_id, refunded_cents, pi="pi_1", charge="ch_1", at=DAY + timedelta(days=1), **metadata):
    return stripe_event("charge.refunded", event_id=event_id, at=at, id=charge, payment_intent=pi,
                        amount_refunded=refunded_cents, metadata=metadata)  # fmt: skip


def roi_total():
    return roi_by_model_and_type(since=DAY.date() - timedelta(days=7), until=DAY.date() + timedelta(days=7),
                                 currency="usd").total  # fmt: skip


def test_the_same_event_twice_is_recorded_once():
    assert income_record_stripe_event(event=payment()).startswith("payment 49")
    assert income_record_stripe_event(event=payment()) == "already recorded"
    assert IncomeEvent.objects.count() == 1


def test_a_second_event_for_the_same_payment_intent_does_not_count_it_again():
    income_record_stripe_event(event=payment("evt_a"))
    assert income_record_stripe_event(event=payment("evt_b")) == "already recorded"
    assert IncomeEvent.objects.total() == Decimal("49.00")


@pytest.mark.parametrize(("currency", "cents", "amount"),
                         [("usd", 4900, "49.00"), ("jpy", 5000, "5000"), ("kwd", 12345, "12.345")])  # fmt: skip
def test_amounts_are_exact_in_the_currency_units(currency, cents, amount):
    income_record_stripe_event(event=payment(cents=cents, currency=currency))
    assert IncomeEvent.objects.get().amount == Decimal(amount)


def test_other_event_types_are_acknowledged_and_ignored():
    event = stripe_event("payment_intent.succeeded")
    event["type"] = "checkout.session.completed"
    assert income_record_stripe_event(event=event) == "ignored checkout.session.completed"
    assert IncomeEvent.objects.count() == 0


class TestRefunds:
    def test_partial_then_full_refund_are_negative_rows_that_add_up(self):
        income_record_stripe_event(event=payment())
        income_record_stripe_event(event=refund("evt_r1", 1000))
        income_record_stripe_event(event=refund("evt_r2", 4900))
        amounts = list(IncomeEvent.objects.filter(kind="refund").order_by("id").values_list("amount", flat=True))
        assert amounts == [Decimal("-10.00"), Decimal("-39.00")]
        assert IncomeEvent.objects.total() == Decimal("0")

    def test_out_of_order_refunds_and_refund_before_payment_give_the_same_totals(self, two_models):
        alpha, _ = two_models
        task = finished_task(alpha, "self_improvement", cost="1.25", finished_at=DAY)
        # Stripe delivers in any order: the full refund first, then the partial one, then the payment.
        income_record_stripe_event(event=refund("evt_r2", 4900))
        assert income_record_stripe_event(event=refund("evt_r1", 1000)) == "refunds of ch_1 already booked (49.00 USD)"
        income_record_stripe_event(event=payment(task_id=str(task.pk)))
        refund_row = IncomeEvent.objects.get(kind="refund")
        assert refund_row.amount == Decimal("-49.00")
        assert (refund_row.task, refund_row.ai_model_id) == (task, "model-alpha")  # attributed like its payment
        total = roi_total()
        assert total.income == IncomeEvent.objects.total() == Decimal("0")
        assert total.cost == Decimal("1.25")

    def test_partial_refund_leaves_the_rest(self):
        income_record_stripe_event(event=payment())
        income_record_stripe_event(event=refund("evt_r1", 1050))
        income_record_stripe_event(event=refund("evt_r1", 1050))  # replayed
        assert roi_total().income == IncomeEvent.objects.total() == Decimal("38.50")


class TestAttribution:
    def test_task_wins_over_offer_and_metadata(self, two_models):
        alpha, beta = two_models
        task = finished_task(alpha, "implement_idea")
        offer = OfferTemplate.objects.create(
            name="Offer", slug="offer", description="d", task_type=TaskType.objects.get(slug="self_improvement"),
            ai_model=beta, price="10", currency="usd",
        )  # fmt: skip
        income_record_stripe_event(event=payment(task_id=str(task.pk), offer_id=str(offer.pk), ai_model="model-beta"))
        row = IncomeEvent.objects.get()
        assert (row.ai_model_id, row.task_type.slug, row.offer) == ("model-alpha", "implement_idea", offer)

    def test_offer_found_from_an_old_stripe_price(self, two_models):
        from djstripe.models import Price, Product

        _, beta = two_models
        product = Product.objects.create(id="prod_X", name="Offer")
        Price.objects.create(id="price_old", product=product, currency="usd", active=False)
        offer = OfferTemplate.objects.create(
            name="Offer", slug="offer", description="d", task_type=TaskType.objects.get(slug="implement_idea"),
            ai_model=beta, price="10", currency="usd", stripe_product=product,
        )  # fmt: skip
        income_record_stripe_event(event=payment(price_id="price_old"))
        row = IncomeEvent.objects.get()
        assert (row.offer, row.ai_model_id, row.task_type.slug) == (offer, "model-beta", "implement_idea")

    def test_metadata_alone_attributes_and_unknown_names_leave_it_empty(self, two_models):
        income_record_stripe_event(event=payment("evt_1", "pi_1", ai_model="model-beta", task_type="self_programming"))
        income_record_stripe_event(event=payment("evt_2", "pi_2", ai_model="no-such-model", task_id="999999"))
        known, unknown = IncomeEvent.objects.order_by("id")
        assert (known.ai_model_id, known.task_type.slug) == ("model-beta", "self_programming")
        assert (unknown.ai_model_id, unknown.task_type_id, unknown.task_id) == (None, None, None)
        assert unknown.metadata == {"ai_model": "no-such-model", "task_id": "999999"}
        report = roi_by_model_and_type(since=DAY.date(), until=DAY.date() + timedelta(days=1), currency="usd")
        assert report.unattributed.income == Decimal("49.00")


class TestManualEntries:
    def test_reason_is_required_and_nothing_is_written_without_it(self, offer_builder):
        with pytest.raises(ValidationError) as refusal:
            income_record_manual(amount=Decimal("0"), currency="usd", occurred_at=DAY, reason=" ", actor=offer_builder)
        assert set(refusal.value.message_dict) == {"reason", "amount"}
        assert IncomeEvent.objects.count() == 0

    def test_the_database_refuses_a_manual_row_without_reason_too(self):
        with pytest.raises(IntegrityError), transaction.atomic():
            IncomeEvent.objects.create(kind="manual", amount=Decimal("5"), currency="usd", occurred_at=DAY)

    def test_manual_entry_takes_the_task_attribution(self, operator, two_models):
        task = finished_task(two_models[1], "implement_idea")
        row = income_record_manual(amount=Decimal("120.50"), currency="usd", occurred_at=DAY, task=task,
                                   reason="bank transfer, invoice 2026-114", actor=operator)  # fmt: skip
        assert (row.kind, row.ai_model_id, row.task_type.slug, row.created_by) == (
            "manual", "model-beta", "implement_idea", operator
        )  # fmt: skip


def rollup_snapshot():
    """Every rollup row that counts something (a retracted row stays at zero until a rebuild removes it); the
    highest duration only rises between rebuilds, so it is left out."""
    tasks = {
        (r.grain, r.period, r.ai_model, r.task_type_id): (
            r.runs, r.successes, r.failures, r.retries, r.duration_count, r.duration_sum_ms, r.duration_hist,
            r.input_tokens, r.output_tokens, r.cost, r.cost_unknown,
        )
        for r in TaskRollup.objects.all()
        if r.runs or r.cost or r.cost_unknown
    }
    income = {
        (r.grain, r.period, r.currency, r.ai_model, r.task_type_id): (r.amount, r.events)
        for r in IncomeRollup.objects.all()
        if r.events
    }
    return tasks, income


def test_triggers_keep_the_rollups_equal_to_a_rebuild_through_every_kind_of_change(two_models):
    """Random inserts, finishes, retries, cost changes, moves and deletes; then compare with a from-scratch sum."""
    rng = random.Random(20261123)  # noqa: S311 - a reproducible test sequence
    models = list(two_models)
    types = list(TaskType.objects.all())
    tasks: list[ExecutionTask] = []
    for step in range(300):
        choice = rng.random()
        if choice < 0.35 or not tasks:
            tasks.append(ExecutionTask.objects.create(
                task_type=rng.choice(types), ai_model=rng.choice(models), status=rng.choice(["queued", "succeeded"]),
                attempts=rng.choice([0, 1, 2]), cost=rng.choice([None, Decimal("0.123456"), Decimal("2.5")]),
                finished_at=rng.choice([None, DAY, DAY + timedelta(days=rng.randint(-3, 3))]),
            ))  # fmt: skip
        elif choice < 0.55:
            task = rng.choice(tasks)
            ExecutionTask.objects.filter(pk=task.pk).update(status="running", finished_at=None, attempts=2)
        elif choice < 0.75:
            task = rng.choice(tasks)
            ExecutionTask.objects.filter(pk=task.pk).update(
                status=rng.choice(["succeeded", "failed"]), cost=rng.choice([None, Decimal("0.01")]),
                finished_at=DAY + timedelta(hours=rng.randint(-72, 72)), attempts=rng.choice([1, 3]),
                duration_ms=rng.choice([None, 5, 950, 61_000]), input_tokens=rng.choice([None, 1200]),
                ai_model=rng.choice(models), task_type=rng.choice(types),
            )  # fmt: skip
        elif choice < 0.85:
            task = tasks[rng.randrange(len(tasks))]
            if not task.income.exists():  # the ledger protects tasks it names
                tasks.remove(task)
                task.delete()
        else:
            income_record_manual(amount=Decimal(rng.randint(-500, 5000)) / 100 or Decimal("1"), currency="usd",
                                 occurred_at=DAY + timedelta(hours=rng.randint(-48, 48)), reason=f"step {step}",
                                 actor=None, task=rng.choice(tasks))  # fmt: skip
    IncomeEvent.objects.filter(pk__in=IncomeEvent.objects.values("pk")[:3]).update(currency="eur")
    IncomeEvent.objects.filter(pk__in=IncomeEvent.objects.values("pk")[3:5]).delete()
    by_triggers = rollup_snapshot()
    rollups_rebuild()
    assert rollup_snapshot() == by_triggers
    assert sum(v[0] for k, v in by_triggers[0].items() if k[0] == "day") == ExecutionTask.objects.filter(
        finished_at__isnull=False, attempts__gt=0
    ).count()  # fmt: skip


def test_period_boundaries_are_utc_days(two_models):
    alpha, _ = two_models
    midnight = datetime(2026, 11, 21, tzinfo=UTC)
    finished_task(alpha, "implement_idea", cost="1.00", finished_at=midnight - timedelta(microseconds=1))
    finished_task(alpha, "implement_idea", cost="2.00", finished_at=midnight)
    report = roi_by_model_and_type(since=midnight.date(), until=midnight.date() + timedelta(days=1), currency="usd")
    assert [(row.tasks_run, row.cost) for row in report.rows] == [(1, Decimal("2.00"))]
