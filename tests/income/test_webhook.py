import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from urllib.parse import urlsplit

import django_rq
import pytest
from djstripe.models import WebhookEventTrigger

from apps.income.models import IncomeEvent
from apps.offers.models import OfferTemplate
from tests.income.conftest import WEBHOOK_URL, finished_task, stripe_event, stripe_signature

pytestmark = pytest.mark.django_db


def queued_jobs() -> list:
    return django_rq.get_queue("default").get_jobs()


class TestSignatureAndShape:
    """Nothing is stored, nothing is queued, and the answer says why."""

    @pytest.mark.parametrize(
        ("case", "expected"),
        [
            ("wrong secret", "Signature rejected"),
            ("tampered body", "Signature rejected"),
            ("expired timestamp", "Signature rejected"),
            ("missing header", "Missing Stripe-Signature"),
            ("garbage header", "Signature rejected"),
            ("malformed JSON", "Body is not JSON"),
            ("not an event", "Body is not a Stripe event"),
            ("live event to test console", "live-mode event"),
        ],
    )
    def test_refused_with_400_and_nothing_stored(self, post_event, case, expected):
        event = stripe_event("payment_intent.succeeded")
        body = json.dumps(event)
        if case == "wrong secret":
            response = post_event(body, secret="whsec_SomeoneElsesSecret")
        elif case == "tampered body":
            signature = stripe_signature(body)
            response = post_event(body.replace("4900", "490000"), HTTP_STRIPE_SIGNATURE=signature)
        elif case == "expired timestamp":
            response = post_event(body, timestamp=int(time.time()) - 301)
        elif case == "missing header":
            response = post_event(body, HTTP_STRIPE_SIGNATURE="")
        elif case == "garbage header":
            response = post_event(body, HTTP_STRIPE_SIGNATURE="not-a-signature")
        elif case == "malformed JSON":
            response = post_event(body[:-5])
        elif case == "not an event":
            response = post_event(json.dumps({"hello": "world"}))
        else:
            response = post_event(json.dumps({**event, "livemode": True}))
        assert response.status_code == 400, response.content
        assert expected in response.content.decode()
        assert WebhookEventTrigger.objects.count() == 0
        assert IncomeEvent.objects.count() == 0
        assert queued_jobs() == []

    def test_debug_secret_header_cannot_override_ours(self, post_event, settings):
        """dj-stripe trusts `X-Djstripe-Webhook-Secret` when DEBUG is on; the console never does."""
        settings.DEBUG = True
        body = json.dumps(stripe_event("payment_intent.succeeded"))
        response = post_event(body, secret="whsec_attacker", HTTP_X_DJSTRIPE_WEBHOOK_SECRET="whsec_attacker")
        assert response.status_code == 400
        assert WebhookEventTrigger.objects.count() == 0

    def test_without_a_configured_secret_nothing_is_accepted(self, post_event, settings):
        settings.STRIPE_WEBHOOK_SECRET = ""
        response = post_event(json.dumps(stripe_event("payment_intent.succeeded")), secret="")
        assert response.status_code == 503
        assert b"not configured" in response.content
        assert WebhookEventTrigger.objects.count() == 0

    def test_get_is_not_allowed(self, client):
        assert client.get(WEBHOOK_URL).status_code == 405


def test_valid_event_is_stored_and_queued_not_processed_in_the_request(post_event, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # django-rq enqueues when the transaction commits
        response = post_event(stripe_event("payment_intent.succeeded"))
    assert response.status_code == 200
    trigger = WebhookEventTrigger.objects.get()
    assert trigger.valid and not trigger.processed
    assert [job.func_name for job in queued_jobs()] == ["apps.income.jobs.record_stripe_event"]
    assert IncomeEvent.objects.count() == 0  # the worker records it


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # autocommit, as in production
def test_queue_outage_answers_503_so_stripe_retries(post_event, settings):
    # A Redis that really refuses connections: nothing listens on port 1.
    settings.RQ_QUEUES = {"default": {**settings.RQ_QUEUES["default"], "URL": "redis://127.0.0.1:1/0"}}
    response = post_event(stripe_event("payment_intent.succeeded"))
    assert response.status_code == 503
    assert WebhookEventTrigger.objects.filter(valid=True, processed=False).count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
class TestWithRealWorkers:
    def test_payment_becomes_one_attributed_row(self, post_event, run_workers, two_models):
        alpha, _ = two_models
        task = finished_task(alpha, "implement_idea")
        offer = OfferTemplate.objects.create(
            name="AI-Powered Code Review", slug="code-review", description="Review", task_type=task.task_type,
            ai_model=alpha, price="49.00", currency="usd",
        )  # fmt: skip
        event = stripe_event("payment_intent.succeeded", metadata={"task_id": str(task.pk), "offer_id": str(offer.pk)})
        assert post_event(event).status_code == 200
        run_workers()
        row = IncomeEvent.objects.get()
        assert (row.kind, row.amount, row.currency) == ("payment", Decimal("49.000"), "usd")
        assert (row.offer, row.task, row.ai_model_id, row.task_type.slug) == (
            offer,
            task,
            "model-alpha",
            "implement_idea",
        )
        assert (row.stripe_event_id, row.stripe_object_id) == (event["id"], event["data"]["object"]["id"])
        assert WebhookEventTrigger.objects.get().processed

    def test_same_event_fifty_times_and_concurrently_is_one_row(self, live_server, run_workers, two_models):
        body = json.dumps(stripe_event("payment_intent.succeeded", amount_received=12345))

        address = urlsplit(live_server.url)

        def deliver(_):
            connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
            headers = {"Content-Type": "application/json", "Stripe-Signature": stripe_signature(body)}
            connection.request("POST", WEBHOOK_URL, body=body.encode(), headers=headers)
            status = connection.getresponse().status
            connection.close()
            return status

        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(deliver, range(50)))
        assert statuses == [200] * 50
        assert WebhookEventTrigger.objects.count() == 50
        run_workers(count=2)  # two workers race over the 50 jobs
        assert IncomeEvent.objects.count() == 1
        assert IncomeEvent.objects.get().amount == Decimal("123.45")
        assert WebhookEventTrigger.objects.filter(processed=True).count() == 50
