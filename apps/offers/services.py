"""Offers: saving them (a change Stripe shows makes a new version) and publishing them to Stripe as a Product
with one current Price, mirrored into dj-stripe's tables. Publishing runs as an RQ job; when Stripe is busy,
failing (5xx) or unreachable the job asks RQ to run it again later (`RetryIn`) instead of sleeping in the worker.

Publishing recovers by itself: each Stripe object the job creates is linked to the offer before the next step
(a product found by its metadata if the link was lost with a killed worker), so a run again, or an edit after a
failure, continues on the same product; the new default price is linked before old prices are archived, so the
console and Stripe never disagree on which price is current; the sweeper (`offers_publishing_recover`) starts
again a publish whose job is gone. Idempotency keys name the installation and hash the request, so two consoles
on one Stripe account, or a restored database, never reuse a key for another request."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import django_rq
import stripe
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from djstripe import models as djstripe_models
from djstripe.exceptions import InvalidStripeAPIKey
from djstripe.settings import djstripe_settings
from redis import RedisError

from apps.auditlog.services import audit_record
from apps.core.money import amount_to_minor_units

from .models import STRIPE_FIELDS, OfferPrice, OfferTemplate

logger = logging.getLogger(__name__)
State = OfferTemplate.SyncState
PUBLISH_JOB = "apps.offers.jobs.publish_offer"
RETRYABLE = (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError)
JOB_ENDED = frozenset({"failed", "stopped", "canceled", "finished", None})


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


@transaction.atomic
def offer_save(*, offer: OfferTemplate, changed_fields: list[str], actor=None) -> OfferTemplate:
    """Save an offer; when something Stripe shows changed, it gets a new version to publish. A new price or
    currency is a reprice: it goes in the audit log."""
    stripe_visible = {field.removesuffix("_id") for field in STRIPE_FIELDS}
    if offer.pk and stripe_visible & set(changed_fields):
        offer.version += 1
        if offer.sync_state == State.PUBLISHED:
            offer.sync_state = State.DRAFT  # published, but not this version
    offer.full_clean()
    before = OfferTemplate.objects.filter(pk=offer.pk).values("price", "currency").first() if offer.pk else None
    offer.save()
    if before and (before["price"] != offer.price or before["currency"] != offer.currency):
        audit_record(
            action="offer.repriced", actor=actor, target=offer,
            summary=f"{before['price']} {before['currency'].upper()} -> {offer.price} {offer.currency.upper()} "
            f"(version {offer.version})",
            details={"from": before, "to": {"price": offer.price, "currency": offer.currency},
                     "version": offer.version},
        )  # fmt: skip
    return offer


def offer_publish_request(*, offer: OfferTemplate, actor=None) -> OfferTemplate:
    """Mark the offer `publishing` and hand the Stripe calls to a job (the page never waits on Stripe)."""
    problem = stripe_setup_problem()
    if problem:
        raise ValidationError(problem)
    with transaction.atomic():
        offer = OfferTemplate.objects.select_for_update().get(pk=offer.pk)
        if offer.sync_state == State.PUBLISHING:
            raise ValidationError(f"{offer} is already being published.")
        offer.sync_state, offer.sync_error, offer.publish_recoveries = State.PUBLISHING, "", 0
        offer.publish_job_id, offer.publish_started_at = _publish_job_id(offer.pk), None
        offer.publish_request = uuid.uuid4().hex[:12]
        offer._change_reason = "publish requested"
        offer.save(update_fields=["sync_state", "sync_error", "publish_recoveries", "publish_job_id",
                                  "publish_started_at", "publish_request", "updated_at"])  # fmt: skip
        audit_record(action="offer.publish_requested", actor=actor, target=offer,
                     summary=f"version {offer.version} at {offer.price} {offer.currency.upper()}",
                     details={"version": offer.version, "price": offer.price, "currency": offer.currency,
                              "publish_request": offer.publish_request})  # fmt: skip
        transaction.on_commit(lambda: _publish_job_push(offer.pk, offer.publish_job_id))
    return offer


def _publish_job_id(offer_id: int) -> str:
    """Chosen with the state change, in its transaction: the sweeper never sees `publishing` without its job."""
    return f"offer-publish-{offer_id}-{uuid.uuid4().hex[:12]}"


def _publish_job_push(offer_id: int, job_id: str) -> None:
    try:
        django_rq.get_queue("default").enqueue(
            PUBLISH_JOB, offer_id, job_id=job_id, job_timeout=settings.OFFERS_PUBLISH_TIMEOUT_SECONDS
        )
    except (RedisError, OSError) as error:
        _failed(offer_id, f"Could not start publishing: the job queue is unreachable ({error}).")


def offers_publishing_recover() -> int:
    """The sweeper's part: start again every publish whose job is gone (Redis lost it), ended without
    settling the offer (its worker was killed), or ran past its timeout plus the grace period. Resuming is
    safe: the job continues on the product and prices already linked. After OFFERS_STRIPE_MAX_ATTEMPTS
    recoveries the offer fails with the reason, for a person to look at."""
    publishing = list(OfferTemplate.objects.filter(sync_state=State.PUBLISHING))
    if not publishing:
        return 0
    connection = django_rq.get_queue("default").connection
    with connection.pipeline(transaction=False) as pipeline:
        for offer in publishing:
            pipeline.hget(f"rq:job:{offer.publish_job_id}", "status")
        statuses = [status.decode() if status else None for status in pipeline.execute()]
    deadline = timedelta(seconds=settings.OFFERS_PUBLISH_TIMEOUT_SECONDS + settings.EXECUTION_GRACE_SECONDS)
    # RQ stops a job at its timeout; `EXECUTION_GRACE_SECONDS` (60 by default) covers the worker noticing. A job
    # restarted while an old run still lives is harmless: the old run stops at its next step (`job_id` check).
    recovered = 0
    for offer, status in zip(publishing, statuses, strict=True):
        overdue = offer.publish_started_at is not None and offer.publish_started_at + deadline < timezone.now()
        if status not in JOB_ENDED and not (status == "started" and overdue):
            continue  # queued, scheduled for a retry, or running in time
        why = f"its job is {status or 'gone'}" if status in JOB_ENDED else "its job ran past its timeout"
        with transaction.atomic():
            locked = OfferTemplate.objects.select_for_update().get(pk=offer.pk)
            if locked.sync_state != State.PUBLISHING or locked.publish_job_id != offer.publish_job_id:
                continue  # settled or restarted meanwhile
            locked.publish_recoveries += 1
            if locked.publish_recoveries > settings.OFFERS_STRIPE_MAX_ATTEMPTS:
                locked.sync_state = State.FAILED
                locked.sync_error = (f"Publishing was interrupted {locked.publish_recoveries - 1} times ({why}); "
                                     "publish again once the workers are healthy.")  # fmt: skip
            else:
                locked.sync_error = f"Publishing restarted by the sweeper: {why} (worker lost?)."
                locked.publish_job_id, locked.publish_started_at = _publish_job_id(offer.pk), None
                transaction.on_commit(lambda pk=offer.pk, job_id=locked.publish_job_id: _publish_job_push(pk, job_id))
            locked._change_reason = f"sweeper: {why}"
            locked.save(update_fields=["publish_recoveries", "sync_state", "sync_error", "publish_job_id",
                                       "publish_started_at", "updated_at"])  # fmt: skip
        logger.warning("offer %s: publishing %s (%s)", offer.pk, "failed" if locked.sync_state == State.FAILED
                       else "restarted", why)  # fmt: skip
        recovered += 1
    return recovered


def _failed(offer_id: int, message: str) -> None:
    OfferTemplate.objects.filter(pk=offer_id).update(sync_state=State.FAILED, sync_error=message)


def offer_publish(*, offer_id: int, attempt: int = 1, job_id: str | None = None) -> str | RetryIn:
    """Bring Stripe in line with the offer (the job's `attempt`-th run). Each step links what it made before
    the next one, so a run again resumes where the last stopped. On an error the offer is `failed` with
    Stripe's message. A rate limit, a network error or a Stripe 5xx that Stripe says may be retried, before the
    last attempt, returns RetryIn (the offer stays `publishing` and says when it tries again)."""
    offer = OfferTemplate.objects.select_related("task_type", "stripe_product", "stripe_price").get(pk=offer_id)
    if job_id is not None and offer.publish_job_id and job_id != offer.publish_job_id:
        return f"superseded by job {offer.publish_job_id}"  # the sweeper restarted this publish
    if (offer.published_version == offer.version and offer.stripe_product_id and offer.stripe_price_id
            and not _extra_prices_pending(offer)):
        OfferTemplate.objects.filter(pk=offer_id).update(sync_state=State.PUBLISHED, sync_error="")
        return "already up to date"
    OfferTemplate.objects.filter(pk=offer_id).update(publish_started_at=timezone.now())
    try:
        _stripe_apply(offer, stripe_client())
    except RETRYABLE as error:
        if not _worth_retrying(error):
            _failed(offer_id, error.user_message or str(error))
            return "failed"
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
        locked.published_version, locked.synced_at, locked.sync_error = offer.version, timezone.now(), ""
        locked.sync_state = State.PUBLISHED if locked.version == offer.version else State.DRAFT
        locked._change_reason = f"published version {offer.version} to Stripe"
        locked.save()
        audit_record(action="offer.published", target=locked, actor_label="publish job",
                     summary=f"version {offer.version} at {offer.price} {offer.currency.upper()} is live on Stripe",
                     details={"version": offer.version, "price": offer.price, "currency": offer.currency,
                              "stripe_product": locked.stripe_product_id, "stripe_price": locked.stripe_price_id})
    return f"published version {offer.version}"


def _worth_retrying(error: stripe.StripeError) -> bool:
    """Rate limits and network errors are. A 5xx is only when Stripe's `Stripe-Should-Retry: true` says so:
    otherwise Stripe saved the 500 under the idempotency key and would replay it for 24 hours. A 409 (the same
    key in flight) is."""
    if isinstance(error, stripe.RateLimitError | stripe.APIConnectionError) or error.http_status == 409:
        return True
    return (error.headers or {}).get("Stripe-Should-Retry") == "true"


def _stripe_apply(offer: OfferTemplate, client: stripe.StripeClient) -> None:
    """The Stripe calls that make the product and its default price match the offer, each result linked to the
    offer as soon as it exists."""
    products, prices = client.v1.products, client.v1.prices

    def once(step: str, params: dict) -> dict:
        return {"idempotency_key": idempotency_key(offer, step, params)}

    fields = {"name": offer.name, "description": offer.description, "metadata": _metadata(offer)}
    mirror = offer.stripe_product
    if mirror is None:
        product = _product_of(offer, client) or products.create(fields, once("product-create", fields))
        mirror = _link(offer, product=product)
    if (mirror.name, mirror.description, mirror.stripe_data.get("metadata")) != tuple(fields.values()):
        product = products.update(mirror.id, fields, once("product", fields))
    else:
        product = products.retrieve(mirror.id)

    price_fields = _price_fields(offer)
    current = offer.stripe_price
    if current is not None and _price_matches(current.stripe_data, price_fields, product.id):
        price = prices.retrieve(current.id)
    else:
        create = {"product": product.id, **price_fields}
        price = prices.create(create, once("price", create))
    if product.default_price != price.id:
        product = products.update(product.id, {"default_price": price.id}, once("default-price", {"p": price.id}))
    if offer.stripe_price is None or offer.stripe_price.id != price.id:
        _link(offer, product=product, price=price)  # current in the console before anything old is archived
    warm = _extra_prices_apply(offer, product, client)
    # Archived after the switch; a failure here leaves both sides on the new price, and the run again archives
    # whatever of this offer's earlier prices is still active. Prices kept warm stay active.
    for old in prices.list({"product": product.id, "active": True, "limit": 100}).auto_paging_iter():
        ours = old.metadata.get("offer_version") or old.metadata.get("offer_price")
        if old.id != price.id and ours and old.id not in warm:
            archived = prices.update(old.id, {"active": False}, once(f"archive-{old.id}", {}))
            djstripe_models.Price.sync_from_stripe_data(archived, api_key=stripe_secret_key())
    if product.active != offer.is_active:
        product = products.update(product.id, {"active": offer.is_active}, once("active", {"a": offer.is_active}))
    djstripe_models.Product.sync_from_stripe_data(product, api_key=stripe_secret_key())


def _extra_prices_apply(offer: OfferTemplate, product, client: stripe.StripeClient) -> set[str]:
    """Create the Stripe Price of each extra price still wanted (experiment variants, warm former defaults),
    linked as soon as it exists; returns the ids to keep active."""
    warm: set[str] = set()
    now = timezone.now()
    for extra in OfferPrice.objects.filter(offer=offer).select_related("stripe_price").order_by("pk"):
        if extra.keep_until is not None and extra.keep_until <= now:
            continue
        if extra.stripe_price is None:
            fields = {**_price_fields(offer), "product": product.id,
                      "unit_amount": amount_to_minor_units(Decimal(extra.amount), offer.currency),
                      "metadata": {"offer_id": str(offer.pk), "offer_price": str(extra.pk)}}  # fmt: skip
            created = client.v1.prices.create(fields, {"idempotency_key": idempotency_key(offer, f"extra-{extra.pk}",
                                                                                          fields)})  # fmt: skip
            row = djstripe_models.Price.sync_from_stripe_data(created, api_key=stripe_secret_key())
            OfferPrice.objects.filter(pk=extra.pk).update(stripe_price=row)
            extra.stripe_price = row
        warm.add(extra.stripe_price.id)
    return warm


@transaction.atomic
def offer_default_price_set(*, offer: OfferTemplate, extra: OfferPrice, actor=None, reason: str) -> OfferTemplate:
    """Make an extra price (already on Stripe) the offer's current price and publish that; the price it replaces
    is kept warm by its own extra price row. Audited as a reprice, with the reason."""
    if extra.offer_id != offer.pk or extra.stripe_price_id is None:
        raise ValidationError(f"{extra} is not a published price of {offer}.")
    offer = OfferTemplate.objects.select_for_update().get(pk=offer.pk)
    offer.price, offer.stripe_price_id = extra.amount, extra.stripe_price_id
    offer._change_reason = reason
    offer_save(offer=offer, changed_fields=["price", "stripe_price"], actor=actor)
    return offer_publish_request(offer=offer, actor=actor)


def _extra_prices_pending(offer: OfferTemplate) -> bool:
    """An extra price to create on Stripe, or one past its warm period still to archive."""
    extras = OfferPrice.objects.filter(offer=offer)
    now = timezone.now()
    unpublished = extras.filter(stripe_price__isnull=True).exclude(keep_until__lte=now)
    expired = extras.filter(keep_until__lte=now, stripe_price__active=True).exclude(stripe_price=offer.stripe_price_id)
    return unpublished.exists() or expired.exists()


def offers_with_expired_prices() -> list[int]:
    """Offers holding an extra price whose warm period is over but which is still active on Stripe: the next
    publish archives it."""
    expired = OfferPrice.objects.filter(keep_until__lte=timezone.now(), stripe_price__active=True).exclude(
        stripe_price=F("offer__stripe_price")
    )
    return sorted(set(expired.values_list("offer_id", flat=True)))


def _product_of(offer: OfferTemplate, client: stripe.StripeClient):
    """The product an earlier run created for this offer but could not link (its worker was killed between
    Stripe's answer and the database), found by the metadata every product of ours carries."""
    query = f"metadata['offer_id']:'{offer.pk}' AND metadata['installation']:'{settings.INSTALLATION_ID}'"
    found = client.v1.products.search({"query": query}).data
    return found[0] if found else None


def _link(offer: OfferTemplate, *, product, price=None):
    """Mirror what Stripe made and link it to the offer, committed at once: the next step may never come."""
    product_row = djstripe_models.Product.sync_from_stripe_data(product, api_key=stripe_secret_key())
    price_row = price and djstripe_models.Price.sync_from_stripe_data(price, api_key=stripe_secret_key())
    with transaction.atomic():
        locked = OfferTemplate.objects.select_for_update().get(pk=offer.pk)
        locked.stripe_product = product_row
        if price_row is not None:
            locked.stripe_price = price_row
        locked._change_reason = f"linked Stripe {'price ' + price.id if price else 'product ' + product.id}"
        locked.save(update_fields=["stripe_product", "stripe_price", "updated_at"])
    offer.stripe_product, offer.stripe_price = locked.stripe_product, locked.stripe_price
    return product_row


def idempotency_key(offer: OfferTemplate, step: str, params: dict) -> str:
    """Unique to this installation, publish request, offer version, step and request body. Runs again of one
    publish (RQ retries, sweeper restarts) replay Stripe's first answer (after a lost response); a new publish
    request, or a later version, is new even when its parameters repeat an earlier one's (deactivate, reactivate,
    deactivate; publish again after a 500 Stripe saved under its key); and no key collides with another
    console's on the same account or a restored copy of this database."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:20]
    request = offer.publish_request or "direct"
    return f"opsconsole-{settings.INSTALLATION_ID}-offer-{offer.pk}-{request}-v{offer.version}-{step}-{digest}"


def _metadata(offer: OfferTemplate) -> dict[str, str]:
    return {"offer_id": str(offer.pk), "task_type": offer.task_type.slug, "ai_model": offer.ai_model_id,
            "installation": settings.INSTALLATION_ID}  # fmt: skip


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
