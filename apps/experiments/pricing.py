"""Price experiments: creating one on a published offer (each variant a Stripe Price made by the offer's publish
job), starting it, and assigning subjects: deterministic and sticky, recorded once, each with a Stripe Checkout
Session for its variant's price whose PaymentIntent carries the offer, experiment, variant and subject."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import stripe
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.auditlog.services import audit_record
from apps.core.assignment import arm_of, assignment_salt, bucket_of
from apps.core.money import amount_problems
from apps.core.validation import text_problem
from apps.offers.models import OfferPrice, OfferTemplate
from apps.offers.services import offer_publish_request, stripe_client, stripe_setup_problem

from .models import Exposure, PriceExperiment, Variant
from .stats import horizon_per_arm

Status = PriceExperiment.Status
CHECKOUT_REUSE_MARGIN = timedelta(minutes=30)  # a session closer than this to expiring is not handed out again


class ExperimentUnavailable(Exception):
    """The experiment cannot assign now (not started yet); the API answers 409 with this message."""


class CheckoutFailed(Exception):
    """Stripe refused or could not be reached for the checkout; the API answers 502 with Stripe's message."""


@dataclass(frozen=True)
class Assignment:
    experiment: PriceExperiment
    variant: Variant
    stripe_price_id: str
    checkout_url: str
    checkout_session_id: str
    new_exposure: bool
    note: str = ""


@transaction.atomic
def price_experiment_create(*, offer: OfferTemplate, key: str, variants: list[dict], actor=None,
                            **design) -> PriceExperiment:  # fmt: skip
    """Create the experiment and its variants, the control at the offer's current price, and ask the offer's
    publish job to make the other variants' Stripe Prices. `variants`: [{key, price, weight}], control first."""
    offer = OfferTemplate.objects.select_for_update().get(pk=offer.pk)
    checked = _variants_check(offer, variants)
    _offer_check(offer)
    if PriceExperiment.objects.filter(offer=offer, status__in=[Status.DRAFT, Status.RUNNING]).exists():
        raise ValidationError({"offer": f"{offer} already has an experiment in progress; end it first."})
    experiment = PriceExperiment(key=key, offer=offer, salt=assignment_salt(), created_by=actor, **design)
    experiment.horizon_per_variant = horizon_per_arm(
        baseline_rate=float(experiment.baseline_rate), minimum_effect=float(experiment.minimum_effect),
        alpha=float(experiment.alpha) / max(1, len(checked) - 1), power=float(experiment.power),
    )  # fmt: skip
    experiment.full_clean()
    experiment.save()
    for index, (variant_key, price, weight) in enumerate(checked):
        extra = OfferPrice.objects.create(
            offer=offer, label=f"experiment {key}: {variant_key}", amount=price,
            stripe_price_id=offer.stripe_price_id if index == 0 else None,
        )  # fmt: skip
        Variant.objects.create(experiment=experiment, key=variant_key, price=price, weight=weight,
                               is_control=index == 0, offer_price=extra)  # fmt: skip
    audit_record(action="experiment.created", actor=actor, target=experiment,
                 summary=f"{len(checked)} prices on {offer}: " + ", ".join(f"{k} {p}" for k, p, _ in checked),
                 details={"variants": [{"key": k, "price": p, "weight": w} for k, p, w in checked],
                          "horizon_per_variant": experiment.horizon_per_variant})  # fmt: skip
    offer_publish_request(offer=offer, actor=actor)
    return experiment


def _offer_check(offer: OfferTemplate) -> None:
    problem = stripe_setup_problem()
    if problem:
        raise ValidationError(problem)
    if not offer.is_active or offer.stripe_price_id is None or not offer.is_up_to_date:
        raise ValidationError({"offer": f"{offer} must be active and published (its current version) first."})
    if offer.billing != OfferTemplate.Billing.ONE_TIME:
        raise ValidationError({"offer": "Price experiments need a one-time offer: a subscription's checkout "
                                        "carries its metadata on the subscription, not on a PaymentIntent."})


def _variants_check(offer: OfferTemplate, variants: list[dict]) -> list[tuple[str, Decimal, int]]:
    """Each variant's key, price and weight, checked; the first is the control and costs the offer's price."""
    if not isinstance(variants, list) or len(variants) < 2:
        raise ValidationError({"variants": "An experiment needs at least two variants: the control and one other."})
    checked, seen = [], set()
    for position, given in enumerate(variants, start=1):
        key = str(given.get("key", "")).strip()
        try:
            price, weight = Decimal(str(given.get("price"))), int(given.get("weight", 50))
        except (InvalidOperation, TypeError, ValueError) as error:
            raise ValidationError({"variants": f"variant {position}: price and weight must be numbers."}) from error
        problems = amount_problems(price, offer.currency)
        if not key or not key.replace("-", "").replace("_", "").isalnum() or len(key) > 32:
            raise ValidationError({"variants": f"variant {position}: key must be 1-32 letters, digits, - or _."})
        if key in seen:
            raise ValidationError({"variants": f"variant {position}: key {key!r} is used twice."})
        if problems:
            raise ValidationError({"variants": f"variant {key}: {'; '.join(problems.values())}"})
        if weight < 1:
            raise ValidationError({"variants": f"variant {key}: weight must be at least 1."})
        seen.add(key)
        checked.append((key, price, weight))
    if checked[0][1] != offer.price:
        raise ValidationError({"variants": f"The control (first variant) must cost the offer's price, {offer.price}."})
    if len({price for _, price, _ in checked}) != len(checked):
        raise ValidationError({"variants": "Two variants have the same price: each variant must be a different price."})
    return checked


@transaction.atomic
def price_experiment_start(*, experiment: PriceExperiment, actor=None) -> PriceExperiment:
    """Start assigning once every variant's price is on Stripe."""
    experiment = PriceExperiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.status != Status.DRAFT:
        raise ValidationError(f"{experiment} is {experiment.get_status_display().lower()}, not a draft.")
    variants = list(experiment.variants.select_related("offer_price"))
    if len(variants) < 2 or sum(variant.is_control for variant in variants) != 1:
        raise ValidationError(f"{experiment} needs a control and at least one other variant to start.")
    missing = [v.key for v in variants if not (v.offer_price_id and v.offer_price.stripe_price_id)]
    if missing:
        raise ValidationError(f"Variant(s) {', '.join(missing)} have no Stripe price yet: wait for the offer's "
                              "publish to finish (or publish it again if it failed).")  # fmt: skip
    experiment.status, experiment.started_at = Status.RUNNING, timezone.now()
    experiment._change_reason = "started"
    experiment.save(update_fields=["status", "started_at"])
    audit_record(action="experiment.started", actor=actor, target=experiment,
                 summary=f"assigning subjects on {experiment.offer}")  # fmt: skip
    return experiment


def variant_of(*, experiment: PriceExperiment, subject: str, variants: list[Variant]) -> Variant:
    """The subject's variant: a pure function of the experiment's salt, the subject and the weights."""
    bucket = bucket_of(salt=experiment.salt, subject=subject)
    return variants[arm_of(bucket=bucket, weights=[variant.weight for variant in variants])]


def exposure_assign(*, key: str, subject: object) -> Assignment:
    """The subject's variant and a checkout for it. The first call records the exposure; later calls return the
    same variant (and the same checkout while Stripe keeps it open). After a decision everyone gets the offer's
    price, and nothing is recorded."""
    subject = _subject_check(subject)
    if not (settings.EXPERIMENTS_CHECKOUT_SUCCESS_URL and settings.EXPERIMENTS_CHECKOUT_CANCEL_URL):
        raise ExperimentUnavailable("Checkout is not configured: set EXPERIMENTS_CHECKOUT_SUCCESS_URL and "
                                    "EXPERIMENTS_CHECKOUT_CANCEL_URL (your storefront's pages).")  # fmt: skip
    experiment = PriceExperiment.objects.select_related(
        "offer__stripe_price", "winner__offer_price__stripe_price"
    ).filter(key=key).first()
    if experiment is None:
        raise PriceExperiment.DoesNotExist(f"No experiment {key!r}.")
    if experiment.status == Status.DRAFT:
        raise ExperimentUnavailable(f"Experiment {key} has not started: its prices are being published.")
    if experiment.status != Status.RUNNING:
        return _after_decision(experiment, subject)
    variants = list(experiment.variants.select_related("offer_price__stripe_price").order_by("-is_control", "key"))
    found = Exposure.objects.filter(experiment=experiment, subject=subject).first()
    variant = next(v for v in variants if v.pk == found.variant_id) if found else \
        variant_of(experiment=experiment, subject=subject, variants=variants)  # fmt: skip
    if found and found.checkout_url and found.checkout_expires_at and \
            found.checkout_expires_at > timezone.now() + CHECKOUT_REUSE_MARGIN:  # fmt: skip
        return Assignment(experiment, variant, variant.stripe_price_id, found.checkout_url,
                          found.checkout_session_id, False)  # fmt: skip
    session = _checkout_create(experiment, variant, subject)  # a Stripe failure leaves no exposure behind
    checkout = {"checkout_session_id": session.id, "checkout_url": session.url or "",
                "checkout_expires_at": datetime.fromtimestamp(session.expires_at, tz=UTC) if session.expires_at
                else None}  # fmt: skip
    if found:
        Exposure.objects.filter(pk=found.pk).update(**checkout)
        return Assignment(experiment, variant, variant.stripe_price_id, checkout["checkout_url"], session.id, False)
    exposure, new = _exposure_record(experiment, subject, variant, checkout)
    return Assignment(experiment, variant, variant.stripe_price_id, exposure.checkout_url,
                      exposure.checkout_session_id, new)  # fmt: skip


def _subject_check(subject: object) -> str:
    if not isinstance(subject, str) or not subject.strip():
        raise ValidationError({"subject": "subject is required: a customer or session id (a string)."})
    if len(subject) > 200:
        raise ValidationError({"subject": f"subject is {len(subject)} characters long; at most 200."})
    if problem := text_problem(subject):
        raise ValidationError({"subject": f"subject {problem}."})
    return subject.strip()


def _exposure_record(experiment: PriceExperiment, subject: str, variant: Variant,
                     checkout: dict) -> tuple[Exposure, bool]:  # fmt: skip
    """Once per subject, also when two first requests for it race: the unique constraint decides, and the loser
    answers with the winner's checkout (same variant; its own session simply expires unused)."""
    try:
        with transaction.atomic():
            return Exposure.objects.create(experiment=experiment, variant=variant, subject=subject, **checkout), True
    except IntegrityError:
        return Exposure.objects.get(experiment=experiment, subject=subject), False


def _after_decision(experiment: PriceExperiment, subject: str) -> Assignment:
    winner = experiment.winner or experiment.variants.get(is_control=True)
    offer = experiment.offer
    session = _checkout_create(experiment, winner, subject, price_id=offer.stripe_price.id, in_experiment=False)
    note = f"experiment {experiment.get_status_display().lower()}: everyone gets the offer's price"
    return Assignment(experiment, winner, offer.stripe_price.id, session.url or "", session.id, False, note)


def _checkout_create(experiment: PriceExperiment, variant: Variant, subject: str, *, price_id: str | None = None,
                     in_experiment: bool = True):  # fmt: skip
    """A Checkout Session for one unit of the price; the PaymentIntent's metadata is what the ledger attributes."""
    metadata = {"offer_id": str(experiment.offer_id), "subject": subject}
    if in_experiment:
        metadata |= {"experiment": experiment.key, "variant": variant.key}
    price_id = price_id or variant.stripe_price_id
    params = {
        "mode": "payment", "line_items": [{"price": price_id, "quantity": 1}],
        "success_url": settings.EXPERIMENTS_CHECKOUT_SUCCESS_URL,
        "cancel_url": settings.EXPERIMENTS_CHECKOUT_CANCEL_URL,
        "client_reference_id": hashlib.sha256(subject.encode()).hexdigest()[:64],
        "metadata": metadata, "payment_intent_data": {"metadata": metadata},
    }  # fmt: skip
    hour = int(timezone.now().timestamp() // 3600)
    digest = hashlib.sha256(f"{subject}:{price_id}".encode()).hexdigest()[:24]
    key = f"opsconsole-{settings.INSTALLATION_ID}-checkout-{experiment.pk}-{digest}-{hour}"  # one session per hour
    try:
        return stripe_client().v1.checkout.sessions.create(params, {"idempotency_key": key})
    except stripe.StripeError as error:
        raise CheckoutFailed(f"Stripe could not make the checkout: {error.user_message or error}") from error
