"""Demo experiments: a price test on an offer with a few thousand exposures and their payments and refunds in
the ledger, a healthy canary at 25 %, and a canary whose candidate fails often, held by its own guardrails (the
real judgement, run once here). Rows are written directly: the demo has no Stripe to publish prices to."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.assignment import assignment_salt
from apps.execution.models import ExecutionTask, ModelRollout, TaskType
from apps.experiments.models import Exposure, PriceExperiment, Variant
from apps.experiments.pricing import variant_of
from apps.experiments.rollouts import DEFAULT_GUARDRAILS, rollouts_watch
from apps.income.models import IncomeEvent
from apps.offers.models import OfferPrice, OfferTemplate

EXPERIMENT_KEY = "code-review-price"
SUBJECTS = 4_800
CONVERSION = {"A": 0.050, "B": 0.068}  # B: a lower price converts better
REFUND_RATE = 0.04
# (task type, champion, candidate, share, candidate failure rate, finished runs)
ROLLOUTS = [("implement_idea", "qwen2.5-coder-32b", "gpt-4o-mini", 25, 0.03, 360),
            ("self_improvement", "qwen2.5-coder-32b", "llama-3.1-70b", 50, 0.35, 160)]  # fmt: skip


def demo_experiments_ensure(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    added = {"price experiments": 0, "exposures": 0, "payments": 0, "rollouts": 0, "rollout tasks": 0}
    if not PriceExperiment.objects.filter(key=EXPERIMENT_KEY).exists():
        added |= _price_experiment(now)
    for spec in ROLLOUTS:
        if not ModelRollout.objects.filter(task_type__slug=spec[0]).exists():
            added["rollouts"] += 1
            added["rollout tasks"] += _rollout(spec, now)
    rollouts_watch()  # the guardrails hold the failing candidate, as the scheduler would
    return added


@transaction.atomic
def _price_experiment(now: datetime) -> dict[str, int]:
    offer = OfferTemplate.objects.filter(billing="one_time").order_by("pk").first()
    builder = get_user_model().objects.get(username="demo-builder")
    experiment = PriceExperiment.objects.create(
        key=EXPERIMENT_KEY, offer=offer, hypothesis="A lower price sells enough more reviews to earn more.",
        primary_metric=PriceExperiment.Metric.REVENUE, horizon_per_variant=2_000, salt=assignment_salt(),
        status=PriceExperiment.Status.RUNNING, started_at=now - timedelta(days=6), created_by=builder,
    )  # fmt: skip
    prices = {"A": offer.price, "B": (offer.price * Decimal("0.8")).quantize(Decimal("0.01"))}
    variants = []
    for key, price in prices.items():
        extra = OfferPrice.objects.create(offer=offer, label=f"experiment {EXPERIMENT_KEY}: {key}", amount=price)
        variants.append(Variant.objects.create(experiment=experiment, key=key, price=price, weight=50,
                                               is_control=key == "A", offer_price=extra))  # fmt: skip
    rng = random.Random(19)  # noqa: S311 - demo figures
    exposures, payments = [], []
    for n in range(SUBJECTS):
        subject = f"session-{n:05d}"
        variant = variant_of(experiment=experiment, subject=subject, variants=variants)
        exposures.append(Exposure(experiment=experiment, variant=variant, subject=subject))
        if rng.random() < CONVERSION[variant.key]:
            paid_at = experiment.started_at + timedelta(minutes=rng.randint(10, 6 * 24 * 60))
            payments += _money(experiment, offer, variant, subject, paid_at, refunded=rng.random() < REFUND_RATE)
    Exposure.objects.bulk_create(exposures, batch_size=2000)
    Exposure.objects.filter(experiment=experiment).update(created_at=experiment.started_at + timedelta(hours=1))
    IncomeEvent.objects.bulk_create(payments, batch_size=1000)
    return {"price experiments": 1, "exposures": len(exposures), "payments": len(payments)}


def _money(experiment, offer, variant, subject, paid_at, *, refunded: bool) -> list[IncomeEvent]:
    intent = f"pi_demo_exp_{subject}"
    metadata = {"offer_id": str(offer.pk), "experiment": experiment.key, "variant": variant.key, "subject": subject}
    common = {"currency": offer.currency, "payment_intent_id": intent, "metadata": metadata, "offer": offer,
              "ai_model_id": offer.ai_model_id, "task_type_id": offer.task_type_id, "experiment": experiment.key,
              "experiment_variant": variant.key, "settlement_currency": offer.currency}  # fmt: skip
    fee = (variant.price * Decimal("0.029") + Decimal("0.30")).quantize(Decimal("0.01"))
    rows = [IncomeEvent(kind="payment", amount=variant.price, occurred_at=paid_at, stripe_event_id=f"evt_{intent}",
                        stripe_object_id=intent, charge_id=f"ch_demo_exp_{subject}", attribution_source="metadata",
                        balance_transaction_id=f"txn_{intent}", settlement_amount=variant.price, fee=fee,
                        net=variant.price - fee, **common)]  # fmt: skip
    if refunded:
        rows.append(IncomeEvent(kind="refund", amount=-variant.price, occurred_at=paid_at + timedelta(days=1),
                                stripe_event_id=f"evt_refund_{intent}", stripe_object_id=f"ch_demo_exp_{subject}",
                                charge_id=f"ch_demo_exp_{subject}", attribution_source="payment",
                                balance_transaction_id=f"txn_refund_{intent}", settlement_amount=-variant.price,
                                fee=Decimal("0"), net=-variant.price, **common))  # fmt: skip
    return rows


@transaction.atomic
def _rollout(spec: tuple, now: datetime) -> int:
    slug, champion, candidate, share, failing, runs = spec
    operator = get_user_model().objects.get(username="demo-operator")
    task_type = TaskType.objects.get(slug=slug)
    rollout = ModelRollout.objects.create(
        task_type=task_type, champion_id=champion, candidate_id=candidate, candidate_percent=share,
        steps=[5, 25, 50, 100], salt=assignment_salt(), guardrails=list(DEFAULT_GUARDRAILS), horizon_runs=200,
        looks_planned=5, step_changed_at=now - timedelta(hours=3), created_by=operator,
    )  # fmt: skip
    rng = random.Random(slug)  # noqa: S311 - demo figures
    rows = []
    for n in range(runs):
        on_candidate = rng.random() * 100 < share
        model = candidate if on_candidate else champion
        failed = rng.random() < (failing if on_candidate else 0.03)
        finished = now - timedelta(minutes=rng.randint(1, 170))
        duration = int(rng.lognormvariate(8.2 if on_candidate else 8.3, 0.3))
        rows.append(ExecutionTask(
            task_type=task_type, ai_model_id=model, requested_ai_model=champion, rollout=rollout,
            model_assignment=f"rollout #{rollout.pk} at {share}%: {'candidate' if on_candidate else 'champion'}",
            status="failed" if failed else "succeeded", attempts=1, payload={"demo": True, "rollout_demo": n},
            error="openai.InternalServerError: Error code: 500 - upstream overloaded" if failed else "",
            started_at=finished - timedelta(milliseconds=duration), finished_at=finished, duration_ms=duration,
            input_tokens=None if failed else 1200, output_tokens=None if failed else 300,
            cost=None if failed else Decimal("0.000900"), created_by=operator,
        ))  # fmt: skip
    ExecutionTask.objects.bulk_create(rows, batch_size=1000)
    ExecutionTask.objects.filter(rollout=rollout).update(created_at=F("started_at") - timedelta(milliseconds=400))
    ModelRollout.objects.filter(pk=rollout.pk).update(created_at=now - timedelta(hours=3))  # before its tasks
    return len(rows)
