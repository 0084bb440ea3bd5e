"""Price experiments against the local Stripe stand-in: a one-time offer published on it, an experiment on that
offer created (its variants' Stripe Prices made by the offer's real publish job) and started, and a burst RQ
worker in this process (it shares the settings, so the jobs talk to the stand-in too, and in a test that runs
inside a transaction it sees that transaction)."""

from decimal import Decimal

import django_rq
import pytest
from django.utils.text import slugify
from rq import SimpleWorker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from apps.execution.models import TaskType
from apps.experiments.models import PriceExperiment
from apps.experiments.pricing import price_experiment_create, price_experiment_start
from apps.offers.models import OfferTemplate
from apps.offers.services import offer_publish
from tests.conftest import token_client
from tests.income.conftest import post_event  # noqa: F401 - signed deliveries to the real webhook view

OFFER_PRICE = Decimal("49.00")
CHEAPER = Decimal("39.00")


def assign_url(key: str) -> str:
    return f"/api/experiments/{key}/assign"


class BurstWorker(SimpleWorker):
    """RQ's in-process worker without the listener for remote commands (none come in a test), whose thread takes
    0.3 s to stop after every burst."""

    def subscribe(self) -> None:
        pass


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Users per role have passwords: the production hasher would spend half a second on each test's user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def drain(redis_test_db, django_capture_on_commit_callbacks):
    """Run the default queue's jobs, and the jobs they queue (after their commit, which inside a test's
    transaction is captured and run here), until it is empty; no job may fail or wait for a retry."""

    def run() -> None:
        queue = django_rq.get_queue("default")
        while queue.count:
            with django_capture_on_commit_callbacks(execute=True):
                BurstWorker([queue], connection=redis_test_db).work(burst=True)
        failed = FailedJobRegistry(queue=queue)
        assert failed.count == 0, [queue.fetch_job(job_id).exc_info for job_id in failed.get_job_ids()]
        assert ScheduledJobRegistry(queue=queue).count == 0, "a job is waiting for a retry"

    return run


def offer_published(*, ai_model, name: str = "AI-Powered Code Review", price: Decimal = OFFER_PRICE,
                    billing: str = OfferTemplate.Billing.ONE_TIME) -> OfferTemplate:  # fmt: skip
    offer = OfferTemplate.objects.create(
        name=name, slug=slugify(name), description="A careful review of one PR.", ai_model=ai_model,
        task_type=TaskType.objects.get(slug="implement_idea"), price=price, currency="usd", billing=billing,
    )  # fmt: skip
    assert offer_publish(offer_id=offer.pk) == "published version 1"
    offer.refresh_from_db()
    assert offer.is_up_to_date
    return offer


@pytest.fixture
def offer(ai_model, fake_stripe):
    """A one-time offer at 49.00 USD, published on the Stripe stand-in."""
    return offer_published(ai_model=ai_model)


@pytest.fixture
def create_experiment(offer, offer_builder, django_capture_on_commit_callbacks, drain):
    """Create an experiment (control A at the offer's price, B cheaper), let the offer's publish job make the
    variants' Stripe Prices, and start it."""

    def create(*, key: str = "spring-price", variants: list[dict] | None = None, start: bool = True,
               **design) -> PriceExperiment:  # fmt: skip
        variants = variants or [{"key": "A", "price": str(OFFER_PRICE), "weight": 50},
                                {"key": "B", "price": str(CHEAPER), "weight": 50}]  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            experiment = price_experiment_create(offer=offer, key=key, variants=variants, actor=offer_builder,
                                                 **design)  # fmt: skip
        drain()  # the offer's publish job
        if start:
            experiment = price_experiment_start(experiment=experiment, actor=offer_builder)
        experiment.refresh_from_db()
        return experiment

    return create


@pytest.fixture
def experiment(create_experiment):
    return create_experiment()


@pytest.fixture
def storefront(offer_builder):
    """The storefront's API client (its token's user may assign subjects)."""
    return token_client(offer_builder)


def assign(client, key: str, subject) -> dict:
    response = client.post(assign_url(key), {"subject": subject}, format="json")
    assert response.status_code == 200, response.content
    return response.json()
