"""A worker SIGKILLed in the middle of publishing an offer: nobody touches anything, and the sweeper and another
worker finish the publish on the same product, against the Stripe stand-in."""

import signal
import time

import psutil
from rq.worker import Worker

from tests.fakes.stripe_api import SECRET_KEY, FakeStripe

SWEEP_SECONDS, GRACE_SECONDS, TIMEOUT_SECONDS = 2, 3, 6
RECOVERY_DEADLINE = TIMEOUT_SECONDS + GRACE_SECONDS + SWEEP_SECONDS  # the job's deadline, then one sweep

SETUP = """
from django.utils import timezone
from apps.execution.models import AIModel, TaskType
from apps.offers.models import OfferTemplate
AIModel.objects.create(name="fault-model", provider="echo")
task_type = TaskType.objects.create(slug="fault_work", executor="echo", risk_rated_at=timezone.now())
OfferTemplate.objects.create(name="AI-Powered Code Review", slug="code-review", description="One PR, reviewed.",
                             task_type=task_type, ai_model_id="fault-model", price="49.00", currency="usd")
"""
PUBLISH = """
from apps.offers.models import OfferTemplate
from apps.offers.services import offer_publish_request
offer_publish_request(offer=OfferTemplate.objects.get())
"""


def test_a_worker_killed_mid_publish_leaves_one_product_published_in_time(console_deploy):
    stripe = FakeStripe().start()
    try:
        console = console_deploy(
            STRIPE_API_BASE=stripe.base_url, STRIPE_TEST_SECRET_KEY=SECRET_KEY,
            OFFERS_PUBLISH_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS), OFFERS_SWEEP_INTERVAL_SECONDS=str(SWEEP_SECONDS),
            EXECUTION_GRACE_SECONDS=str(GRACE_SECONDS), EXECUTION_SWEEP_INTERVAL_SECONDS="60",
        )  # fmt: skip
        console.run("shell", "-c", SETUP)
        for _ in range(2):
            console.start("rqworker", "default")
        console.start("cron")
        redis = console.redis_server.client()
        console.wait_until(lambda: len(Worker.all(connection=redis)) == 2, seconds=60, what="two workers")
        # The price request is held at Stripe's end; Stripe makes the price even though nobody hears the answer.
        stripe.fail_next("POST", "/v1/prices", "delay", seconds=2.0)
        assert console.shell(PUBLISH).wait(timeout=60) == 0, console.log.read_text()[-3000:]
        console.wait_until(lambda: any(r["path"] == "/v1/prices" for r in stripe.posts()), seconds=30,
                           what="the publish job creating its price")  # fmt: skip
        [(job_id,)] = console.query("SELECT publish_job_id FROM offers_offertemplate")
        holder = next(worker for worker in Worker.all(connection=redis) if worker.get_current_job_id() == job_id)
        victim = psutil.Process(holder.pid)
        for process in [*victim.children(recursive=True), victim]:  # the worker and its work horse
            process.send_signal(signal.SIGKILL)
        killed = time.monotonic()

        state = "SELECT sync_state, sync_error, publish_recoveries FROM offers_offertemplate"
        console.wait_until(lambda: console.query(state)[0][0] == "published", seconds=RECOVERY_DEADLINE + 5,
                           what="the offer published after the kill")  # fmt: skip
        print(f"published {time.monotonic() - killed:.1f} s after the kill (deadline {RECOVERY_DEADLINE} s + run)")
        [(sync_state, sync_error, recoveries)] = console.query(state)
        assert (sync_state, sync_error, recoveries) == ("published", "", 1)
        [product] = stripe.of_type("product")
        [price] = stripe.of_type("price")  # the held request's price, replayed under its key, not a second one
        assert (product["default_price"], price["unit_amount"], price["active"]) == (price["id"], 4900, True)
        [(linked_product, linked_price)] = console.query(
            "SELECT p.id, pr.id FROM offers_offertemplate o"
            " JOIN djstripe_product p ON p.djstripe_id = o.stripe_product_id"
            " JOIN djstripe_price pr ON pr.djstripe_id = o.stripe_price_id"
        )
        assert (linked_product, linked_price) == (product["id"], price["id"])
    finally:
        stripe.stop()
