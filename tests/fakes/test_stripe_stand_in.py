"""The Stripe stand-in itself, through the real `stripe` library: held to what Stripe documents, so that a
console test passing against it means something."""

import threading

import pytest
import stripe

from tests.fakes.stripe_api import IDEMPOTENCY_WINDOW_SECONDS, SECRET_KEY, FakeStripe
from tests.fakes.stripe_events import StripeMoney

WEBHOOK_SECRET = "whsec_StandInSelfTest000000000000000001"


@pytest.fixture
def fake():
    server = FakeStripe().start()
    yield server
    server.stop()


def client_for(fake: FakeStripe, *, retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": fake.base_url}, max_network_retries=retries)


def test_an_unknown_parameter_is_refused_as_stripe_refuses_it(fake):
    with pytest.raises(stripe.InvalidRequestError, match="Received unknown parameter: colour") as refused:
        client_for(fake).v1.products.create({"name": "Review", "colour": "red"})
    assert refused.value.param == "colour" and not fake.of_type("product")
    with pytest.raises(stripe.InvalidRequestError, match=r"unknown parameter: recurring\[every\]"):
        product = client_for(fake).v1.products.create({"name": "Review"})
        client_for(fake).v1.prices.create({"product": product.id, "currency": "usd", "unit_amount": 100,
                                           "recurring": {"every": "month"}})  # fmt: skip


def test_a_validation_error_is_not_saved_under_its_idempotency_key(fake):
    client = client_for(fake)
    with pytest.raises(stripe.InvalidRequestError, match="Missing required param: name"):
        client.v1.products.create({"description": "no name"}, {"idempotency_key": "key-1"})
    # The same key with corrected parameters runs: Stripe saved nothing for a request that failed validation.
    product = client.v1.products.create({"name": "Review"}, {"idempotency_key": "key-1"})
    again = client.v1.products.create({"name": "Review"}, {"idempotency_key": "key-1"})
    assert again.id == product.id and len(fake.of_type("product")) == 1
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        client.v1.products.create({"name": "Other"}, {"idempotency_key": "key-1"})


def test_idempotency_keys_expire_after_24_hours(fake):
    now = [1_800_000_000.0]
    fake.clock = lambda: now[0]
    client = client_for(fake)
    first = client.v1.products.create({"name": "Review"}, {"idempotency_key": "key-2"})
    now[0] += IDEMPOTENCY_WINDOW_SECONDS - 1
    assert client.v1.products.create({"name": "Review"}, {"idempotency_key": "key-2"}).id == first.id
    now[0] += 2
    assert client.v1.products.create({"name": "Review"}, {"idempotency_key": "key-2"}).id != first.id


def test_a_request_with_a_key_in_flight_gets_409(fake):
    fake.fail_next("POST", "/v1/products", "delay", seconds=1.0)
    outcomes = []

    def create():
        try:
            outcomes.append(client_for(fake).v1.products.create({"name": "Review"}, {"idempotency_key": "key-3"}).id)
        except stripe.APIError as error:  # the library's class for a 409
            outcomes.append(error.http_status)

    first = threading.Thread(target=create)
    first.start()
    threading.Event().wait(0.3)
    create()
    first.join()
    assert sorted(map(str, outcomes))[0] == "409" and len(fake.of_type("product")) == 1


def test_a_500_says_whether_to_retry_and_the_library_follows_it(fake):
    fake.fail_next("POST", "/v1/products", "server_error", should_retry=True)
    product = client_for(fake, retries=1).v1.products.create({"name": "Review"}, {"idempotency_key": "key-4"})
    assert product.name == "Review" and len(fake.posts()) == 2
    fake.fail_next("POST", "/v1/products", "server_error", should_retry=False)
    with pytest.raises(stripe.APIError) as failed:
        client_for(fake, retries=1).v1.products.create({"name": "Other"})
    assert failed.value.http_status == 500 and len(fake.posts()) == 3  # not retried


def test_lists_honour_filters_limits_and_pages(fake):
    client = client_for(fake)
    products = [client.v1.products.create({"name": f"Product {n}"}) for n in range(3)]
    for product in products:
        client.v1.prices.create({"product": product.id, "currency": "usd", "unit_amount": 500})
    only_first = client.v1.prices.list({"product": products[0].id})
    assert [price.product for price in only_first.data] == [products[0].id]
    page = client.v1.products.list({"limit": 2})
    rest = client.v1.products.list({"limit": 2, "starting_after": page.data[-1].id})
    assert (len(page.data), page.has_more, len(rest.data), rest.has_more) == (2, True, 1, False)
    assert {p.id for p in page.data + rest.data} == {p.id for p in products}
    chosen = client.v1.products.list({"ids": [products[0].id, products[2].id]})  # an array parameter
    assert {p.id for p in chosen.data} == {products[0].id, products[2].id}
    with pytest.raises(stripe.InvalidRequestError, match="limit"):
        client.v1.products.list({"limit": 101})


def test_amounts_and_versions_are_checked(fake):
    client = client_for(fake)
    product = client.v1.products.create({"name": "Review"})
    with pytest.raises(stripe.InvalidRequestError, match="less than or equal to 99999999"):
        client.v1.prices.create({"product": product.id, "currency": "usd", "unit_amount": 100_000_000})
    with pytest.raises(stripe.InvalidRequestError, match="Invalid integer"):
        client.v1.prices.create({"product": product.id, "currency": "usd", "unit_amount": -5})
    odd_version = stripe.StripeClient(SECRET_KEY, base_addresses={"api": fake.base_url}, stripe_version="latest")
    with pytest.raises(stripe.InvalidRequestError, match="Invalid Stripe API version"):
        odd_version.v1.products.list()


def test_money_movements_leave_objects_the_api_serves_and_signed_events(fake):
    money = StripeMoney(fake)
    intent = money.pay(4900, "eur", rate="1.08", metadata={"offer_id": "1"})
    refund = money.refund(intent["latest_charge"], 900)
    client = client_for(fake)
    charge = client.v1.charges.retrieve(intent["latest_charge"], {"expand": ["balance_transaction"]})
    txn = charge.balance_transaction
    assert (txn.currency, txn.amount, txn.exchange_rate) == ("usd", 5292, 1.08)  # 49.00 EUR at 1.08
    assert (txn.fee, txn.net) == (183, 5292 - 183)  # 2.9 % + 0.30
    refunds = client.v1.refunds.list({"charge": charge.id, "expand": ["data.balance_transaction"]})
    assert [(r.id, r.balance_transaction.amount) for r in refunds.data] == [(refund["id"], -972)]
    types = [event["type"] for event in money.events]
    assert types == ["charge.succeeded", "payment_intent.succeeded", "charge.refunded", "refund.created"]
    for body, signature in money.deliveries(WEBHOOK_SECRET):
        event = stripe.Webhook.construct_event(body, signature, WEBHOOK_SECRET)
        assert event.livemode is False
