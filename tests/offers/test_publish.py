"""Publishing offers through the real `stripe` client and dj-stripe, against the local Stripe stand-in."""

from decimal import Decimal

import pytest
import stripe
from djstripe.models import Price, Product
from rq import Queue, SimpleWorker

from apps.offers.models import OfferTemplate
from apps.offers.services import (
    PUBLISH_JOB,
    RetryIn,
    offer_publish,
    offer_publish_request,
    offer_save,
    offers_publishing_recover,
)

pytestmark = pytest.mark.django_db
State = OfferTemplate.SyncState


def publish(offer) -> OfferTemplate:
    offer_publish(offer_id=offer.pk)
    offer.refresh_from_db()
    return offer


def test_first_publish_creates_one_product_and_one_price_mirrored_in_djstripe(fake_stripe, offer, settings):
    offer = publish(offer)
    [product], [price] = fake_stripe.of_type("product"), fake_stripe.of_type("price")
    assert product["name"] == "AI-Powered Code Review" and product["description"] == "A careful review of one PR."
    assert product["metadata"] == {
        "offer_id": str(offer.pk), "task_type": "implement_idea", "ai_model": "qwen2.5-coder-32b",
        "installation": settings.INSTALLATION_ID,
    }  # fmt: skip
    assert (price["unit_amount"], price["currency"], price["type"]) == (4900, "usd", "one_time")
    assert product["default_price"] == price["id"]
    assert (offer.sync_state, offer.sync_error, offer.published_version) == (State.PUBLISHED, "", 1)
    assert offer.stripe_product == Product.objects.get(id=product["id"])
    assert offer.stripe_price == Price.objects.get(id=price["id"]) and offer.stripe_price.unit_amount == 4900
    assert all(request["idempotency_key"] for request in fake_stripe.posts())


def test_price_change_makes_a_new_default_price_and_archives_the_old(fake_stripe, offer):
    offer = publish(offer)
    first_price = offer.stripe_price.id
    offer.price, offer.billing = Decimal("59.00"), OfferTemplate.Billing.MONTHLY
    offer_save(offer=offer, changed_fields=["price", "billing"])
    assert (offer.version, offer.sync_state) == (2, State.DRAFT)
    offer = publish(offer)

    assert len(fake_stripe.of_type("product")) == 1
    prices = {price["id"]: price for price in fake_stripe.of_type("price")}
    assert len(prices) == 2 and prices[first_price]["active"] is False
    new = offer.stripe_price.id
    assert (prices[new]["unit_amount"], prices[new]["recurring"]["interval"]) == (5900, "month")
    assert fake_stripe.of_type("product")[0]["default_price"] == new
    assert Price.objects.get(id=first_price).active is False  # the mirror follows


def test_name_change_updates_the_product_without_a_new_price(fake_stripe, offer):
    offer = publish(offer)
    offer.name = "AI Code Review, same day"
    offer_save(offer=offer, changed_fields=["name"])
    offer = publish(offer)
    assert fake_stripe.of_type("product")[0]["name"] == "AI Code Review, same day"
    assert len(fake_stripe.of_type("price")) == 1
    assert offer.stripe_product.name == "AI Code Review, same day"


def test_publishing_again_without_changes_calls_nothing(fake_stripe, offer):
    publish(offer)
    calls = len(fake_stripe.requests)
    offer_publish_request(offer=offer)  # state goes to publishing; the job finds nothing to do
    assert publish(offer).sync_state == State.PUBLISHED
    assert len(fake_stripe.requests) == calls


def test_deactivating_archives_the_product(fake_stripe, offer):
    offer = publish(offer)
    offer.is_active = False
    offer_save(offer=offer, changed_fields=["is_active"])
    publish(offer)
    assert fake_stripe.of_type("product")[0]["active"] is False


def test_job_retried_after_a_crash_between_product_and_price_creates_no_duplicate(fake_stripe, offer, settings):
    settings.OFFERS_STRIPE_MAX_ATTEMPTS = 1
    fake_stripe.fail_next("POST", "/v1/prices", "drop")  # the product is made, then the connection dies
    offer = publish(offer)
    assert offer.sync_state == State.FAILED and offer.stripe_price is None
    assert offer.stripe_product.id == fake_stripe.of_type("product")[0]["id"]  # kept for the run again

    offer = publish(offer)  # the retried job continues on the linked product
    assert offer.sync_state == State.PUBLISHED
    assert len(fake_stripe.of_type("product")) == 1 and len(fake_stripe.of_type("price")) == 1
    assert len([r for r in fake_stripe.posts() if r["path"] == "/v1/products"]) == 1


def test_invalid_request_error_is_shown_verbatim_and_no_price_is_linked(fake_stripe, offer):
    message = "The currency 'usd' is not supported for your account's country."
    fake_stripe.fail_next("POST", "/v1/prices", "invalid", message)
    offer = publish(offer)
    assert (offer.sync_state, offer.sync_error) == (State.FAILED, message)
    assert offer.stripe_price is None and offer.published_version is None


def publish_through_rq(offer, redis_test_db):
    """The publish job on a real queue, run by a real RQ worker in this process (it sees this test's
    transaction); returns the job once the queue is empty, retries included."""
    queue = Queue("default", connection=redis_test_db)
    job = queue.enqueue(PUBLISH_JOB, offer.pk)
    SimpleWorker([queue], connection=redis_test_db).work(burst=True)
    job.refresh()
    offer.refresh_from_db()
    return job


def test_network_failure_after_retries_fails_with_the_error_and_no_links(fake_stripe, offer, settings, redis_test_db):
    settings.OFFERS_STRIPE_MAX_ATTEMPTS = 2
    fake_stripe.fail_next("POST", "/v1/products", "drop")
    fake_stripe.fail_next("POST", "/v1/products", "drop")
    job = publish_through_rq(offer, redis_test_db)
    assert job.number_of_retries == 1  # RQ ran it again; nothing slept inside the job
    assert offer.sync_state == State.FAILED and "connection" in offer.sync_error.lower()
    assert "after 2 attempts" in offer.sync_error
    assert offer.stripe_product is None and not fake_stripe.of_type("product")


def test_rate_limit_is_retried_by_rq_and_then_publishes(fake_stripe, offer, redis_test_db):
    fake_stripe.fail_next("POST", "/v1/products", "rate_limit", "Too many requests in a short period of time.")
    job = publish_through_rq(offer, redis_test_db)
    assert job.number_of_retries == 1
    assert offer.sync_state == State.PUBLISHED and len(fake_stripe.of_type("product")) == 1


def test_a_rate_limit_leaves_the_offer_publishing_and_says_when_it_tries_again(fake_stripe, offer, settings):
    settings.OFFERS_STRIPE_RETRY_SECONDS = 2
    offer_publish_request(offer=offer)
    fake_stripe.fail_next("POST", "/v1/products", "rate_limit", "Too many requests in a short period of time.")
    assert offer_publish(offer_id=offer.pk, attempt=2) == RetryIn(seconds=4)  # 2 s doubling per attempt
    offer.refresh_from_db()
    assert offer.sync_state == State.PUBLISHING
    assert "Trying again in 4 s (attempt 2 of 4)" in offer.sync_error


def test_publishing_leaves_the_stripe_module_configuration_alone(fake_stripe, offer, monkeypatch):
    monkeypatch.setattr(stripe, "max_network_retries", 3)  # what another part of a process may have set
    before = (stripe.api_base, stripe.max_network_retries, stripe.api_key)
    publish(offer)
    assert (stripe.api_base, stripe.max_network_retries, stripe.api_key) == before


def test_wrong_key_is_an_authentication_error_shown_on_the_offer(fake_stripe, offer, settings):
    settings.STRIPE_TEST_SECRET_KEY = "sk_test_" + "W" * 24
    offer = publish(offer)
    assert offer.sync_state == State.FAILED and offer.sync_error.startswith("Invalid API Key provided: sk_test_")


def test_without_a_key_publishing_explains_what_to_set(offer, settings):
    settings.STRIPE_TEST_SECRET_KEY = ""
    with pytest.raises(Exception, match="set STRIPE_TEST_SECRET_KEY"):
        offer_publish_request(offer=offer)
    offer.refresh_from_db()
    assert offer.sync_state == State.DRAFT


@pytest.mark.parametrize(
    ("price", "currency", "field", "words"),
    [("0.30", "usd", "price", "minimum charge in USD is 0.50"), ("49.5", "jpy", "price", "at most 0 decimal"),
     ("10", "xyz", "currency", "not a currency"), ("0.20", "gbp", "price", "minimum charge in GBP is 0.30")],
)  # fmt: skip
def test_prices_stripe_would_refuse_are_refused_on_save(offer, price, currency, field, words):
    from django.core.exceptions import ValidationError

    offer.price, offer.currency = Decimal(price), currency
    with pytest.raises(ValidationError) as refused:
        offer_save(offer=offer, changed_fields=["price", "currency"])
    assert any(words in message for message in refused.value.message_dict[field]), refused.value.message_dict


def test_starter_offers_are_created_as_drafts_once(ai_model):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="no AI model named 'ghost'"):
        call_command("offers_seed_starters", "--ai-model", "ghost")
    call_command("offers_seed_starters", "--ai-model", ai_model.name)
    call_command("offers_seed_starters", "--ai-model", ai_model.name)
    starters = OfferTemplate.objects.order_by("name")
    assert starters.count() == 3 and "AI-Powered Code Review" in [offer.name for offer in starters]
    assert {offer.sync_state for offer in starters} == {State.DRAFT}


class TestRecovery:
    def test_an_edit_after_a_failed_first_publish_leaves_one_product(self, fake_stripe, offer, settings):
        settings.OFFERS_STRIPE_MAX_ATTEMPTS = 1
        # Stripe makes the product, but its answer is lost (a killed worker, a dropped connection).
        fake_stripe.fail_next("POST", "/v1/products", "drop_after")
        offer = publish(offer)
        assert offer.sync_state == State.FAILED and offer.stripe_product is None
        offer.name, offer.price = "AI-Powered Code Review, 24 h", Decimal("59.00")
        offer_save(offer=offer, changed_fields=["name", "price"])

        offer = publish(offer)
        [product] = fake_stripe.of_type("product")  # found again by its metadata, not made twice
        assert offer.sync_state == State.PUBLISHED and offer.stripe_product.id == product["id"]
        assert product["name"] == "AI-Powered Code Review, 24 h"
        assert [p["unit_amount"] for p in fake_stripe.of_type("price")] == [5900]

    def test_a_stripe_500_is_retried_by_rq_unless_stripe_says_not_to(self, fake_stripe, offer, redis_test_db):
        fake_stripe.fail_next("POST", "/v1/prices", "server_error", "An unknown error occurred", should_retry=True)
        job = publish_through_rq(offer, redis_test_db)
        assert job.number_of_retries == 1 and offer.sync_state == State.PUBLISHED
        offer.price = Decimal("59.00")
        offer_save(offer=offer, changed_fields=["price"])
        fake_stripe.fail_next("POST", "/v1/prices", "server_error", "Do not retry this", should_retry=False)
        job = publish_through_rq(offer, redis_test_db)
        assert not job.number_of_retries and (offer.sync_state, offer.sync_error) == (State.FAILED, "Do not retry this")

    def test_a_500_while_archiving_leaves_both_sides_on_the_new_price(self, fake_stripe, offer, settings):
        settings.OFFERS_STRIPE_MAX_ATTEMPTS = 1
        offer = publish(offer)
        old = offer.stripe_price.id
        offer.price = Decimal("59.00")
        offer_save(offer=offer, changed_fields=["price"])
        fake_stripe.fail_next("POST", f"/v1/prices/{old}", "server_error", "An unknown error occurred")
        offer = publish(offer)
        [product] = fake_stripe.of_type("product")
        assert offer.sync_state == State.FAILED
        assert offer.stripe_price.id == product["default_price"] != old  # the console follows Stripe
        assert fake_stripe.objects[old]["active"] is True

        offer = publish(offer)  # publish again: only the archive step is left
        assert offer.sync_state == State.PUBLISHED and fake_stripe.objects[old]["active"] is False
        assert len(fake_stripe.of_type("price")) == 2

    def test_two_installations_on_one_account_never_share_a_key(self, fake_stripe, offer, settings):
        offer = publish(offer)
        first_keys = {request["idempotency_key"] for request in fake_stripe.posts()}
        # Another environment (or a restored copy of this database) with an offer of the same id.
        settings.INSTALLATION_ID = "staging-env"
        OfferTemplate.objects.filter(pk=offer.pk).update(stripe_product=None, stripe_price=None, published_version=None,
                                                         name="Staging review")  # fmt: skip
        offer = publish(offer)
        assert offer.sync_state == State.PUBLISHED, offer.sync_error
        assert sorted(p["name"] for p in fake_stripe.of_type("product")) == ["AI-Powered Code Review", "Staging review"]
        later_keys = {request["idempotency_key"] for request in fake_stripe.posts()} - first_keys
        assert later_keys and all(key.startswith("opsconsole-staging-env-") for key in later_keys)

    def test_the_sweeper_restarts_a_publish_whose_job_is_gone(self, fake_stripe, offer, redis_test_db,
                                                               django_capture_on_commit_callbacks):  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            offer_publish_request(offer=offer)
        redis_test_db.flushdb()  # Redis lost the job (a restart without persistence)
        with django_capture_on_commit_callbacks(execute=True):
            assert offers_publishing_recover() == 1
        offer.refresh_from_db()
        assert (offer.sync_state, offer.publish_recoveries) == (State.PUBLISHING, 1)
        assert offer.sync_error == "Publishing restarted by the sweeper: its job is gone (worker lost?)."

        SimpleWorker([Queue("default", connection=redis_test_db)], connection=redis_test_db).work(burst=True)
        offer.refresh_from_db()
        assert offer.sync_state == State.PUBLISHED and len(fake_stripe.of_type("product")) == 1
        assert offers_publishing_recover() == 0

    def test_a_publish_interrupted_too_often_fails_and_says_why(self, offer, fake_stripe, settings,
                                                                django_capture_on_commit_callbacks):  # fmt: skip
        settings.OFFERS_STRIPE_MAX_ATTEMPTS = 1
        OfferTemplate.objects.filter(pk=offer.pk).update(sync_state=State.PUBLISHING, publish_job_id="lost",
                                                         publish_recoveries=1)  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True) as pushed:
            offers_publishing_recover()
        offer.refresh_from_db()
        assert not pushed and offer.sync_state == State.FAILED
        assert offer.sync_error.startswith("Publishing was interrupted 1 times (its job is gone)")


class TestKeys:
    def test_deactivate_reactivate_deactivate_within_a_day_leaves_the_product_archived(self, fake_stripe, offer):
        offer = publish(offer)
        for active in (False, True, False):
            offer.is_active = active
            offer_save(offer=offer, changed_fields=["is_active"])
            offer = publish(offer)
        assert fake_stripe.of_type("product")[0]["active"] is False  # not a replay of the first deactivation

    def test_a_500_stripe_saved_fails_and_a_new_publish_request_gets_through(
        self, fake_stripe, offer, redis_test_db, django_capture_on_commit_callbacks
    ):
        fake_stripe.fail_next("POST", "/v1/prices", "server_error", "An unknown error occurred", should_retry=None)
        job = publish_through_rq(offer, redis_test_db)  # no Stripe-Should-Retry: a retry would replay the 500
        assert not job.number_of_retries and offer.sync_state == State.FAILED
        with django_capture_on_commit_callbacks(execute=True):
            offer_publish_request(offer=offer)  # a new request: new keys, not the saved 500
        SimpleWorker([Queue("default", connection=redis_test_db)], connection=redis_test_db).work(burst=True)
        offer.refresh_from_db()
        assert offer.sync_state == State.PUBLISHED and len(fake_stripe.of_type("price")) == 1

    def test_a_run_the_sweeper_replaced_stops_before_calling_stripe(self, fake_stripe, offer):
        OfferTemplate.objects.filter(pk=offer.pk).update(sync_state=State.PUBLISHING, publish_job_id="offer-new")
        assert offer_publish(offer_id=offer.pk, job_id="offer-old") == "superseded by job offer-new"
        assert not fake_stripe.requests
