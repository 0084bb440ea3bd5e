"""Ending a price experiment: promoting B makes it the offer's price on Stripe with A kept warm, rolling back returns
to A, both audited and reversible until the window closes; afterwards the losing price is archived. And creating
one: every refusal says why and writes nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import F
from djstripe.models import Price

from apps.auditlog.models import AuditLog
from apps.experiments.decisions import price_experiment_promote, price_experiment_rollback, price_experiments_finalize
from apps.experiments.models import Exposure, PriceExperiment, Variant
from apps.experiments.pricing import exposure_assign, price_experiment_create, price_experiment_start
from apps.offers.models import OfferPrice, OfferTemplate
from apps.offers.services import offer_save

from .conftest import CHEAPER, OFFER_PRICE, assign, offer_published

pytestmark = pytest.mark.django_db
Status = PriceExperiment.Status
VARIANTS = [{"key": "A", "price": "49.00"}, {"key": "B", "price": "39.00"}]


@pytest.fixture
def decide(django_capture_on_commit_callbacks, drain, offer_builder):
    """Run a decision as the offer builder, then the offer's publish job it asks for."""

    def run(decision, **arguments) -> PriceExperiment:
        with django_capture_on_commit_callbacks(execute=True):
            experiment = decision(actor=offer_builder, **arguments)
        drain()
        experiment.refresh_from_db()
        return experiment

    return run


def variants_of(experiment) -> tuple[Variant, Variant]:
    a, b = experiment.variants.select_related("offer_price__stripe_price").order_by("key")
    return a, b


def checkout_metadata(fake_stripe, session_id: str) -> dict:
    return fake_stripe.checkout_intent_metadata[session_id]


def test_promoting_b_makes_it_the_offers_stripe_price_and_keeps_a_warm(experiment, decide, offer, fake_stripe,
                                                                       storefront):  # fmt: skip
    a, b = variants_of(experiment)
    assign(storefront, experiment.key, "cus_SawTheTest")
    prices_before = len(fake_stripe.of_type("price"))

    experiment = decide(price_experiment_promote, experiment=experiment, variant=b)

    assert (experiment.status, experiment.winner) == (Status.PROMOTED, b)
    offer.refresh_from_db()
    assert (offer.price, offer.stripe_price.id, offer.version) == (CHEAPER, b.stripe_price_id, 2)
    assert offer.is_up_to_date  # the publish job ran
    [product] = fake_stripe.of_type("product")
    assert product["default_price"] == b.stripe_price_id
    assert len(fake_stripe.of_type("price")) == prices_before  # B's price is reused, not made again
    assert fake_stripe.objects[a.stripe_price_id]["active"] is True  # warm: a rollback can use it at once
    closes = experiment.decided_at + timedelta(hours=72)
    assert set(OfferPrice.objects.filter(offer=offer).values_list("keep_until", flat=True)) == {closes}

    answer = assign(storefront, experiment.key, "cus_NewAfterPromotion")
    assert (answer["stripe_price_id"], Decimal(answer["price"]), answer["new_exposure"]) == (
        b.stripe_price_id, CHEAPER, False,
    )  # fmt: skip
    assert "everyone gets the offer's price" in answer["note"]
    assert checkout_metadata(fake_stripe, answer["checkout_session_id"]) == {
        "offer_id": str(offer.pk), "subject": "cus_NewAfterPromotion",  # no longer in the experiment's figures
    }  # fmt: skip
    assert list(Exposure.objects.values_list("subject", flat=True)) == ["cus_SawTheTest"]


def test_rolling_back_a_promotion_returns_to_a_and_every_step_is_audited(experiment, decide, offer, fake_stripe,
                                                                         offer_builder):  # fmt: skip
    a, b = variants_of(experiment)
    decide(price_experiment_promote, experiment=experiment, variant=b)
    experiment = decide(price_experiment_rollback, experiment=experiment)

    assert (experiment.status, experiment.winner) == (Status.ROLLED_BACK, a)
    offer.refresh_from_db()
    assert (offer.price, offer.stripe_price.id, offer.version) == (OFFER_PRICE, a.stripe_price_id, 3)
    assert offer.is_up_to_date
    assert fake_stripe.of_type("product")[0]["default_price"] == a.stripe_price_id
    assert fake_stripe.objects[b.stripe_price_id]["active"] is True  # warm in its turn
    assignment = exposure_assign(key=experiment.key, subject="cus_NewAfterRollback")
    assert (assignment.stripe_price_id, assignment.variant, assignment.new_exposure) == (a.stripe_price_id, a, False)
    session = next(r for r in reversed(fake_stripe.posts()) if r["path"] == "/v1/checkout/sessions")
    assert session["params"]["line_items"] == [{"price": a.stripe_price_id, "quantity": "1"}]

    trail = AuditLog.objects.filter(action__in=["experiment.created", "experiment.started", "experiment.promoted",
                                                "experiment.rolled_back", "offer.repriced"]).order_by("id")  # fmt: skip
    assert [(row.action, row.object_type, row.object_id) for row in trail] == [
        ("experiment.created", "experiments.priceexperiment", str(experiment.pk)),
        ("experiment.started", "experiments.priceexperiment", str(experiment.pk)),
        ("offer.repriced", "offers.offertemplate", str(offer.pk)),
        ("experiment.promoted", "experiments.priceexperiment", str(experiment.pk)),
        ("offer.repriced", "offers.offertemplate", str(offer.pk)),
        ("experiment.rolled_back", "experiments.priceexperiment", str(experiment.pk)),
    ]
    assert {row.actor for row in trail} == {offer_builder}
    promoted, rolled_back = trail.get(action="experiment.promoted"), trail.get(action="experiment.rolled_back")
    assert (promoted.details["variant"], promoted.details["stripe_price"]) == ("B", b.stripe_price_id)
    assert (Decimal(promoted.details["from_price"]), Decimal(promoted.details["to_price"])) == (OFFER_PRICE, CHEAPER)
    assert (rolled_back.details["variant"], Decimal(rolled_back.details["to_price"])) == ("A", OFFER_PRICE)
    repriced = [row.details for row in trail.filter(action="offer.repriced")]
    assert [(Decimal(d["from"]["price"]), Decimal(d["to"]["price"])) for d in repriced] == [
        (OFFER_PRICE, CHEAPER), (CHEAPER, OFFER_PRICE),
    ]  # fmt: skip
    published = AuditLog.objects.filter(action="offer.published", object_id=str(offer.pk)).count()
    assert published == 4  # first publish, the variants' prices, the promotion, the rollback


def test_rolling_back_a_running_experiment_keeps_the_offer_as_it_is(experiment, decide, offer):
    experiment = decide(price_experiment_rollback, experiment=experiment)
    offer.refresh_from_db()
    assert experiment.status == Status.ROLLED_BACK
    assert (offer.price, offer.version, offer.sync_state) == (OFFER_PRICE, 1, OfferTemplate.SyncState.PUBLISHED)
    assert not AuditLog.objects.filter(action="offer.repriced").exists()


def test_after_the_window_decisions_are_refused_and_the_losing_price_is_archived(
    experiment, decide, offer, fake_stripe, storefront, django_capture_on_commit_callbacks, drain,
):  # fmt: skip
    a, b = variants_of(experiment)
    experiment = decide(price_experiment_promote, experiment=experiment, variant=b)
    # 73 hours later: the 72-hour window has closed.
    PriceExperiment.objects.filter(pk=experiment.pk).update(decided_at=F("decided_at") - timedelta(hours=73))
    OfferPrice.objects.filter(offer=offer).update(keep_until=F("keep_until") - timedelta(hours=73))
    audit_rows = AuditLog.objects.count()

    with pytest.raises(ValidationError, match=r"spring-price's rollback window closed at \d{4}-\d\d-\d\d \d\d:\d\d "
                                              r"UTC; start a new experiment to change it again\."):  # fmt: skip
        price_experiment_rollback(experiment=experiment)
    with pytest.raises(ValidationError, match="rollback window closed"):
        price_experiment_promote(experiment=experiment, variant=a)
    with pytest.raises(ValidationError, match="already promoted B"):
        price_experiment_promote(experiment=experiment, variant=b)
    experiment.refresh_from_db()
    offer.refresh_from_db()
    assert (experiment.status, experiment.winner, offer.price) == (Status.PROMOTED, b, CHEAPER)
    assert AuditLog.objects.count() == audit_rows

    with django_capture_on_commit_callbacks(execute=True):
        assert price_experiments_finalize() == 1
    drain()
    assert fake_stripe.objects[a.stripe_price_id]["active"] is False
    assert Price.objects.get(id=a.stripe_price_id).active is False  # the mirror follows
    assert fake_stripe.objects[b.stripe_price_id]["active"] is True
    assert fake_stripe.of_type("product")[0]["default_price"] == b.stripe_price_id
    assert price_experiments_finalize() == 0  # nothing left to archive
    assert assign(storefront, experiment.key, "cus_Later")["stripe_price_id"] == b.stripe_price_id


def test_start_waits_until_every_variant_has_its_stripe_price(offer, offer_builder):
    draft = price_experiment_create(offer=offer, key="spring-price", variants=VARIANTS, actor=offer_builder)
    # Its publish job has not run yet: B has no Stripe price (A, the control, has the offer's).
    with pytest.raises(ValidationError, match=r"Variant\(s\) B have no Stripe price yet"):
        price_experiment_start(experiment=draft, actor=offer_builder)
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT and not AuditLog.objects.filter(action="experiment.started").exists()


def test_a_started_experiment_cannot_start_again(experiment):
    with pytest.raises(ValidationError, match="(?i)is running, not a draft"):
        price_experiment_start(experiment=experiment)


# Creation: each refusal explains itself and writes nothing -------------------------------------------------


def written(fake_stripe, *offers) -> tuple:
    """Everything creating an experiment would write, here or on Stripe."""
    return (
        PriceExperiment.objects.count(), Variant.objects.count(), OfferPrice.objects.count(),
        AuditLog.objects.count(), len(fake_stripe.posts()),
        [OfferTemplate.objects.values_list("version", "sync_state").get(pk=offer.pk) for offer in offers],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("variants", "words"),
    [([{"key": "A", "price": "45.00"}, {"key": "B", "price": "39.00"}], "The control (first variant) must cost "
                                                                         "the offer's price, 49.000."),
     ([{"key": "A", "price": "49.00"}, {"key": "A", "price": "39.00"}], "variant 2: key 'A' is used twice."),
     ([{"key": "A", "price": "49.00"}, {"key": "B", "price": "49.0"}], "Two variants have the same price"),
     ([{"key": "A", "price": "49.00"}], "at least two variants"),
     ([{"key": "A", "price": "49.00"}, {"key": "B C", "price": "39.00"}], "key must be 1-32 letters"),
     ([{"key": "A", "price": "49.00"}, {"key": "B", "price": "cheap"}], "price and weight must be numbers"),
     ([{"key": "A", "price": "49.00"}, {"key": "B", "price": "0.20"}], "minimum charge in USD is 0.50"),
     ([{"key": "A", "price": "49.00"}, {"key": "B", "price": "39.00", "weight": 0}], "weight must be at least 1")],
)  # fmt: skip
def test_variants_are_checked(offer, offer_builder, fake_stripe, variants, words):
    before = written(fake_stripe, offer)
    with pytest.raises(ValidationError) as refused:
        price_experiment_create(offer=offer, key="spring-price", variants=variants, actor=offer_builder)
    assert any(words in message for message in refused.value.message_dict["variants"]), refused.value
    assert written(fake_stripe, offer) == before


def test_a_second_live_experiment_on_the_offer_is_refused(create_experiment, offer, offer_builder, fake_stripe):
    create_experiment(start=False)  # a draft is live too
    before = written(fake_stripe, offer)
    with pytest.raises(ValidationError) as refused:
        price_experiment_create(offer=offer, key="summer-price", variants=VARIANTS, actor=offer_builder)
    assert refused.value.message_dict == {
        "offer": ["AI-Powered Code Review already has an experiment in progress; end it first."],
    }
    assert written(fake_stripe, offer) == before


def test_an_experiment_key_is_used_once(experiment, ai_model, offer_builder, fake_stripe):
    other = offer_published(ai_model=ai_model, name="Same-day review")
    before = written(fake_stripe, other)
    with pytest.raises(ValidationError) as refused:
        price_experiment_create(offer=other, key=experiment.key, variants=VARIANTS, actor=offer_builder)
    assert "already exists" in refused.value.message_dict["key"][0]
    assert written(fake_stripe, other) == before


def test_an_unpublished_offer_or_one_changed_since_is_refused(offer, ai_model, offer_builder, fake_stripe):
    never = OfferTemplate.objects.create(name="Draft offer", slug="draft-offer", description="Not on Stripe yet.",
                                         task_type=offer.task_type, ai_model=ai_model, price="49.00")  # fmt: skip
    offer.name = "AI Code Review, renamed"
    offer_save(offer=offer, changed_fields=["name"])  # version 2, not published yet
    for target in (never, offer):
        before = written(fake_stripe, target)
        with pytest.raises(ValidationError) as refused:
            price_experiment_create(offer=target, key="spring-price", variants=VARIANTS, actor=offer_builder)
        assert refused.value.message_dict["offer"] == [
            f"{target} must be active and published (its current version) first."
        ]
        assert written(fake_stripe, target) == before


def test_a_subscription_offer_is_refused(ai_model, offer_builder, fake_stripe):
    monthly = offer_published(ai_model=ai_model, name="Reviews, monthly", billing=OfferTemplate.Billing.MONTHLY)
    before = written(fake_stripe, monthly)
    with pytest.raises(ValidationError) as refused:
        price_experiment_create(offer=monthly, key="spring-price", variants=VARIANTS, actor=offer_builder)
    assert "need a one-time offer" in refused.value.message_dict["offer"][0]
    assert written(fake_stripe, monthly) == before


def test_a_draft_is_cancelled_by_a_rollback_and_its_prices_are_archived(create_experiment, offer, drain,
                                                                         django_capture_on_commit_callbacks,
                                                                         offer_builder):  # fmt: skip
    draft = create_experiment(start=False)
    b = draft.variants.get(key="B")
    price_experiment_rollback(experiment=draft, actor=offer_builder)
    draft.refresh_from_db()
    assert (draft.status, draft.status_reason) == (PriceExperiment.Status.ROLLED_BACK, "cancelled")
    assert OfferTemplate.objects.get(pk=offer.pk).price == OFFER_PRICE  # the offer keeps its price
    assert AuditLog.objects.filter(action="experiment.cancelled", object_id=str(draft.pk)).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert price_experiments_finalize() == 1  # B's price is archived by the publish job
    drain()
    assert Price.objects.get(id=b.stripe_price_id).active is False
    create_experiment(key="next-try")  # the offer is free for another experiment


def test_an_ended_experiment_is_not_reversed_under_a_newer_one(create_experiment, offer_builder):
    first = create_experiment()
    price_experiment_rollback(experiment=first, actor=offer_builder)
    create_experiment(key="second-try", start=False)
    with pytest.raises(ValidationError, match="is in progress on"):
        price_experiment_promote(experiment=first, variant=first.variants.get(key="B"), actor=offer_builder)
