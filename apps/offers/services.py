"""Offers: saving them (a change Stripe shows makes a new version) and publishing them to Stripe as a Product
with one current Price, mirrored into dj-stripe's tables. Publishing runs as an RQ job; when Stripe is busy
or unreachable the job asks RQ to run it again later (`RetryIn`) instead of sleeping in the worker."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from decimal import Decimal

import django_rq
import stripe
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from djstripe import models as djstripe_models
from djstripe.exceptions import InvalidStripeAPIKey
from djstripe.settings import djstripe_settings
from redis import RedisError

from apps.core.money import amount_to_minor_units

from .models import STRIPE_FIELDS, OfferTemplate

logger = logging.getLogger(__name__)
State = OfferTemplate.SyncState
PUBLISH_JOB = "apps.offers.jobs.publish_offer"
RETRYABLE = (stripe.RateLimitError, stripe.APIConnectionError)


@dataclass(frozen=True)
class RetryIn:
    """Publishing met a rate limit or a network error and should run again after `seconds` (its idempotency
    keys make that safe); the job turns this into RQ's `Retry`."""

    seconds: int


def stripe_secret_key() -> str:
    return settings.STRIPE_LIVE_SECRET_KEY if settings.STRIPE_LIVE_MODE else settings.STRIPE_TEST_SECRET_KEY


def stripe_client() -> stripe.StripeClient:
    """A client for this call only: key, API version and base URL (an emulator in tests and staging) from the
    settings, and no retries of its own (ours are RQ's, counted and shown on the offer). Nothing global."""
    return stripe.StripeClient(
        stripe_secret_key(),
        stripe_version=djstripe_settings.STRIPE_API_VERSION,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=0,
    )


def stripe_setup_problem() -> str | None:
    """What to set before anything can be published, in words an offer builder can pass on."""
    variable = "STRIPE_LIVE_SECRET_KEY" if settings.STRIPE_LIVE_MODE else "STRIPE_TEST_SECRET_KEY"
    mode = "live" if settings.STRIPE_LIVE_MODE else "test"
    key = stripe_secret_key()
    if key and re.fullmatch(rf"(sk|rk)_{mode}_[A-Za-z0-9]{{24,}}", key):
        return None
    if key:
        return f"{variable} does not look like a Stripe {mode}-mode secret key (sk_{mode}_ followed by 24+ letters)."
    return (
        f"Stripe is not configured: set {variable} (a {mode}-mode secret key, sk_{mode}_...) in the environment of "
        "the web and worker processes, then publish again. See README, 'Offers and Stripe'."
    )


def offer_save(*, offer: OfferTemplate, changed_fields: list[str]) -> OfferTemplate:
    """Save an offer; when something Stripe shows changed, it gets a new version to publish."""
    stripe_visible = {field.removesuffix("_id") for field in STRIPE_FIELDS}
    if offer.pk and stripe_visible & set(changed_fields):
        offer.version += 1
        if offer.sync_state == State.PUBLISHED:
            offer.sync_state = State.DRAFT  # published, but not this version
    offer.full_clean()
    offer.save()
    return offer


def offer_publish_request(*, offer: OfferTemplate) -> OfferTemplate:
    """Mark the offer `publishing` and hand the Stripe calls to a job (the page never waits on Stripe)."""
    problem = stripe_setup_problem()
    if problem:
        raise ValidationError(problem)
    with transaction.atomic():
        offer = OfferTemplate.objects.select_for_update().get(pk=offer.pk)
        if offer.sync_state == State.PUBLISHING:
            raise ValidationError(f"{offer} is already being published.")
        offer.sync_state, offer.sync_error = State.PUBLISHING, ""
        offer._change_reason = "publish requested"
        offer.save(update_fields=["sync_state", "sync_error", "updated_at"])
        transaction.on_commit(lambda: _publish_job_push(offer.pk))
    return offer


def _publish_job_push(offer_id: int) -> None:
    try:
        django_rq.get_queue("default").enqueue(PUBLISH_JOB, offer_id, job_timeout=300)
    except (RedisError, OSError) as error:
        _failed(offer_id, f"Could not start publishing: the job queue is unreachable ({error}).")


def _failed(offer_id: int, message: str) -> None:
    OfferTemplate.objects.filter(pk=offer_id).update(sync_state=State.FAILED, sync_error=message)


def offer_publish(*, offer_id: int, attempt: int = 1) -> str | RetryIn:
    """Bring Stripe in line with the offer (the job's `attempt`-th run). Every call carries an idempotency key
    derived from the offer and its version, so a run again never makes a second product or price. The offer
    is linked only when everything succeeded; on an error it is `failed` with Stripe's message and its links
    unchanged. A rate limit or network error before the last attempt returns RetryIn (the offer stays
    `publishing` and says when it tries again)."""
    offer = OfferTemplate.objects.select_related("task_type", "stripe_product", "stripe_price").get(pk=offer_id)
    if offer.published_version == offer.version and offer.stripe_product_id and offer.stripe_price_id:
        OfferTemplate.objects.filter(pk=offer_id).update(sync_state=State.PUBLISHED, sync_error="")
        return "already up to date"
    try:
        product, price = _stripe_apply(offer, stripe_client())
        product_row = djstripe_models.Product.sync_from_stripe_data(product, api_key=stripe_secret_key())
        price_row = djstripe_models.Price.sync_from_stripe_data(price, api_key=stripe_secret_key())
    except RETRYABLE as error:
        attempts = settings.OFFERS_STRIPE_MAX_ATTEMPTS
        if attempt >= attempts:
            _failed(offer_id, f"{error.user_message or error} (after {attempts} attempts)")
            return "failed"
        delay = math.ceil(settings.OFFERS_STRIPE_RETRY_SECONDS * 2 ** (attempt - 1))
        logger.warning("offer %s: Stripe %s (attempt %s of %s); again in %s s", offer_id, type(error).__name__,
                       attempt, attempts, delay)  # fmt: skip
        OfferTemplate.objects.filter(pk=offer_id).update(
            sync_error=f"Stripe: {error.user_message or error} Trying again in {delay} s "
            f"(attempt {attempt} of {attempts})."
        )
        return RetryIn(seconds=delay)
    except stripe.StripeError as error:
        _failed(offer_id, error.user_message or str(error))
        return "failed"
    except InvalidStripeAPIKey as error:
        _failed(offer_id, str(error))
        return "failed"
    with transaction.atomic():
        locked = OfferTemplate.objects.select_for_update().get(pk=offer_id)
        locked.stripe_product, locked.stripe_price = product_row, price_row
        locked.published_version, locked.synced_at, locked.sync_error = offer.version, timezone.now(), ""
        locked.sync_state = State.PUBLISHED if locked.version == offer.version else State.DRAFT
        locked._change_reason = f"published version {offer.version} to Stripe"
        locked.save()
    return f"published version {offer.version}"


def _stripe_apply(offer: OfferTemplate, client: stripe.StripeClient):
    """The Stripe calls that make the product and its default price match the offer; returns both objects."""
    products, prices = client.v1.products, client.v1.prices
    key = f"opsconsole-offer-{offer.pk}"
    version_key = f"{key}-v{offer.version}"

    def once(suffix: str) -> dict:
        return {"idempotency_key": f"{version_key}-{suffix}"}

    fields = {"name": offer.name, "description": offer.description, "metadata": _metadata(offer)}
    mirror = offer.stripe_product
    if mirror is None:
        product = products.create(fields, once("product-create"))
    elif (mirror.name, mirror.description, mirror.stripe_data.get("metadata")) != tuple(fields.values()):
        product = products.update(mirror.id, fields, once("product"))
    else:
        product = products.retrieve(mirror.id)

    price_fields = _price_fields(offer)
    current = offer.stripe_price
    if current is not None and _price_matches(current.stripe_data, price_fields, product.id):
        price = prices.retrieve(current.id)
    else:
        price = prices.create({"product": product.id, **price_fields}, once("price"))
    if product.default_price != price.id:
        product = products.update(product.id, {"default_price": price.id}, once("default-price"))
    if current is not None and current.id != price.id and current.active:
        old = prices.update(current.id, {"active": False}, once(f"archive-{current.id}"))
        djstripe_models.Price.sync_from_stripe_data(old, api_key=stripe_secret_key())
    if product.active != offer.is_active:
        product = products.update(product.id, {"active": offer.is_active}, once("active"))
    return product, price


def _metadata(offer: OfferTemplate) -> dict[str, str]:
    return {"offer_id": str(offer.pk), "task_type": offer.task_type.slug, "ai_model": offer.ai_model_id}


def _price_fields(offer: OfferTemplate) -> dict:
    fields = {
        "unit_amount": amount_to_minor_units(Decimal(offer.price), offer.currency),
        "currency": offer.currency,
        "metadata": {"offer_id": str(offer.pk), "offer_version": str(offer.version)},
    }
    if offer.billing != OfferTemplate.Billing.ONE_TIME:
        fields["recurring"] = {"interval": offer.billing}
    return fields


def _price_matches(data: dict, fields: dict, product_id: str) -> bool:
    recurring = (data.get("recurring") or {}).get("interval")
    return (
        data.get("active", True)
        and data.get("product") == product_id
        and data.get("unit_amount") == fields["unit_amount"]
        and data.get("currency") == fields["currency"]
        and recurring == fields.get("recurring", {}).get("interval")
    )
