"""A price experiment end to end: an offer on the Stripe stand-in, control A and a cheaper B published as Stripe
Prices, subjects assigned through the real API, some of them paying at their Checkout Session and some refunded,
every event signed and posted to the real webhook view (shuffled, a third replayed), booked by an RQ worker; then
the figures per variant are exactly what was paid, and the test is the textbook one on those counts."""

import itertools
import math
import random
import time
from decimal import Decimal

import pytest
from django.db.models import Count
from scipy.stats import chi2_contingency, norm, ttest_ind

from apps.experiments.models import Exposure, PriceExperiment
from apps.experiments.results import price_experiment_results
from apps.income.models import IncomeEvent
from tests.fakes.stripe_events import StripeMoney
from tests.income.conftest import webhook_secret  # noqa: F401 - autouse: the signing secret, test mode

from .conftest import CHEAPER, OFFER_PRICE, assign

pytestmark = pytest.mark.django_db
SUBJECTS = [f"cus_Sim{number:05d}" for number in range(200)]
SALT = "5eed5eed5eed5eed"  # fixed, so the split is the same on every run


@pytest.fixture
def money(fake_stripe):
    """Each call to Stripe one second after the previous, starting an hour ago."""
    seconds = itertools.count(int(time.time()) - 3600)
    fake_stripe.clock = lambda: next(seconds)
    return StripeMoney(fake_stripe)


def cents(amount: Decimal) -> int:
    return int(amount * 100)


def test_simulated_experiment_figures_are_what_was_paid_and_b_wins_on_conversion(
    create_experiment, storefront, fake_stripe, money, post_event, drain, offer, django_capture_on_commit_callbacks,
):  # fmt: skip
    # Today 10 % buy; a change to 30 % is worth detecting: the textbook sample size (Cohen's h, normal
    # approximation, alpha 0.05 two-sided, power 0.8) is 60 exposures per variant.
    experiment = create_experiment(baseline_rate=Decimal("0.10"), minimum_effect=Decimal("2.0"))
    h = 2 * math.asin(math.sqrt(0.30)) - 2 * math.asin(math.sqrt(0.10))
    assert experiment.horizon_per_variant == math.ceil(2 * ((norm.ppf(0.975) + norm.ppf(0.80)) / h) ** 2) == 60
    PriceExperiment.objects.filter(pk=experiment.pk).update(salt=SALT)  # before anyone is assigned
    experiment.refresh_from_db()
    a, b = experiment.variants.order_by("key")
    assert (a.is_control, a.price, b.price) == (True, OFFER_PRICE, CHEAPER)

    # Exposure: every subject asks the storefront's API once.
    answers = {subject: assign(storefront, experiment.key, subject) for subject in SUBJECTS}
    arms = {key: [s for s in SUBJECTS if answers[s]["variant"] == key] for key in ("A", "B")}
    assert all(answer["new_exposure"] for answer in answers.values())
    assert {answers[s]["stripe_price_id"] for s in arms["A"]} == {a.stripe_price_id}
    assert {answers[s]["stripe_price_id"] for s in arms["B"]} == {b.stripe_price_id}
    # What Stripe was asked for: one session per subject, its PaymentIntent to carry the offer and the arm.
    sessions = [r["params"] for r in fake_stripe.posts() if r["path"] == "/v1/checkout/sessions"]
    assert sorted(params["payment_intent_data"]["metadata"]["subject"] for params in sessions) == sorted(SUBJECTS)
    for params in sessions:
        subject = params["payment_intent_data"]["metadata"]["subject"]
        assert params["payment_intent_data"]["metadata"] == {
            "offer_id": str(offer.pk), "subject": subject, "experiment": experiment.key,
            "variant": answers[subject]["variant"],
        }  # fmt: skip
        assert params["line_items"] == [{"price": answers[subject]["stripe_price_id"], "quantity": "1"}]
    prices = (fake_stripe.objects[a.stripe_price_id], fake_stripe.objects[b.stripe_price_id])
    assert [(price["unit_amount"], price["product"]) for price in prices] == [
        (4900, offer.stripe_product.id), (3900, offer.stripe_product.id),
    ]  # fmt: skip

    # Purchases: 10 % of A's subjects, 30 % of B's; refunds, a second purchase, a payment outside the experiment.
    chooser = random.Random(2026)  # noqa: S311 - a sample, not a secret
    buyers = {"A": chooser.sample(arms["A"], len(arms["A"]) // 10),
              "B": chooser.sample(arms["B"], round(len(arms["B"]) * 0.3))}  # fmt: skip
    paid = {key: {} for key in buyers}  # subject -> net cents
    charges = {}
    for key, subjects in buyers.items():
        for subject in subjects:
            intent = money.pay_checkout(answers[subject]["checkout_session_id"])
            paid[key][subject], charges[subject] = intent["amount_received"], intent["latest_charge"]
    for subject in buyers["A"][:2]:  # full refunds
        money.refund(charges[subject], 4900)
        paid["A"][subject] -= 4900
    for subject in buyers["B"][:3]:  # partial refunds
        money.refund(charges[subject], 1000)
        paid["B"][subject] -= 1000
    money.refund(charges[buyers["B"][3]], 3900)
    paid["B"][buyers["B"][3]] -= 3900
    returning = buyers["B"][4]  # buys a second time: still one conversion, twice the revenue
    money.pay(3900, metadata=fake_stripe.checkout_intent_metadata[answers[returning]["checkout_session_id"]])
    paid["B"][returning] += 3900
    money.pay(4900, metadata={"offer_id": str(offer.pk)})  # bought outside the experiment: not in its figures

    # Delivery: every event once, a third twice, shuffled; one worker books them and reads the fees.
    shuffler = random.Random(7)  # noqa: S311
    deliveries = money.events + shuffler.sample(money.events, len(money.events) // 3)
    shuffler.shuffle(deliveries)
    with django_capture_on_commit_callbacks(execute=True):  # the view queues each on its commit
        for event in deliveries:
            assert post_event(event).status_code == 200
    drain()

    payments = IncomeEvent.objects.filter(kind="payment")
    assert payments.count() == len(buyers["A"]) + len(buyers["B"]) + 2  # replays booked once
    assert not IncomeEvent.objects.filter(fee__isnull=True).exists()
    assert dict(IncomeEvent.objects.filter(experiment=experiment.key).values_list("experiment_variant")
                .annotate(n=Count("id")).order_by()) == {
        "A": len(buyers["A"]) + 2, "B": len(buyers["B"]) + 1 + 4,  # payments and refunds, like their payment
    }  # fmt: skip

    results = price_experiment_results(experiment=experiment)
    control, treatment = results.variants
    assert (control.variant, treatment.variant) == (a, b)
    for row, key in ((control, "A"), (treatment, "B")):
        assert row.exposures == len(arms[key]) == Exposure.objects.filter(variant__key=key).count()
        assert row.conversions == len(buyers[key])
        assert row.revenue == Decimal(sum(paid[key].values())) / 100, key
        assert isinstance(row.revenue, Decimal)
    assert (control.refunded, treatment.refunded) == (2, 4)
    assert not results.sample_ratio.mismatch

    # The conversion test is the textbook one: a pooled two-proportion z-test is the chi-square test of the 2x2.
    (n_a, x_a), (n_b, x_b) = (len(arms["A"]), len(buyers["A"])), (len(arms["B"]), len(buyers["B"]))
    chi_square = chi2_contingency([[x_b, n_b - x_b], [x_a, n_a - x_a]], correction=False)
    assert treatment.conversion.p_value == pytest.approx(chi_square.pvalue, rel=1e-9)
    assert treatment.conversion.difference == pytest.approx(x_b / n_b - x_a / n_a)
    assert treatment.conversion.low < treatment.conversion.difference < treatment.conversion.high
    # Revenue per exposure: Welch's test on every exposed subject's net revenue (0 for those who did not buy).
    per_subject = {key: [paid[key].get(s, 0) / 100 for s in arms[key]] for key in arms}
    welch = ttest_ind(per_subject["B"], per_subject["A"], equal_var=False)
    assert treatment.revenue_per_exposure.p_value == pytest.approx(welch.pvalue, rel=1e-6)

    assert results.primary_alpha == 0.05  # one treatment: no correction
    # The verdict is judged once, on the fixed-horizon sample: each variant's first 60 exposures (the table above
    # is everything so far). Its test is the same textbook one on that sample's counts.
    assert (results.look, results.cohort) == (experiment.guardrail_looks, experiment.horizon_per_variant)
    judged = {key: len(set(buyers[key]) & set(arms[key][: results.cohort])) for key in arms}
    judged_control, judged_treatment = results.judged
    assert (judged_control.exposures, judged_treatment.exposures) == (results.cohort, results.cohort)
    assert (judged_control.conversions, judged_treatment.conversions) == (judged["A"], judged["B"])
    chi_square = chi2_contingency([[judged["B"], results.cohort - judged["B"]],
                                   [judged["A"], results.cohort - judged["A"]]], correction=False)  # fmt: skip
    assert judged_treatment.conversion.p_value == pytest.approx(chi_square.pvalue, rel=1e-9)
    assert chi_square.pvalue < results.primary_alpha
    assert (results.tone, results.verdict, results.winner) == ("good", "B better on conversion, guardrails fine", b)


def test_before_the_horizon_there_is_no_verdict(create_experiment, storefront, money, post_event, drain,
                                                django_capture_on_commit_callbacks):  # fmt: skip
    experiment = create_experiment()  # 5 % today, 20 % change: thousands of exposures per variant
    answers = {subject: assign(storefront, experiment.key, subject) for subject in SUBJECTS[:40]}
    for subject in SUBJECTS[:10]:
        money.pay_checkout(answers[subject]["checkout_session_id"])
    with django_capture_on_commit_callbacks(execute=True):
        for event in money.events:
            assert post_event(event).status_code == 200
    drain()

    results = price_experiment_results(experiment=experiment)
    assert sum(row.conversions for row in results.variants) == 10
    assert results.tone == "wait" and results.winner is None
    assert results.verdict.startswith(f"not enough data yet: {results.smallest_exposures:,} of "
                                      f"{experiment.horizon_per_variant:,} exposures")  # fmt: skip
