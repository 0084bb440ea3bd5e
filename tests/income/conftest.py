"""Stripe events as Stripe sends them (JSON files in payloads/), signed the way Stripe signs webhooks."""

import copy
import hashlib
import hmac
import json
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from apps.execution.models import ExecutionTask, TaskType
from tests.execution.conftest import run_workers  # noqa: F401 - the real burst-worker fixture
from tests.execution.factories import AIModelFactory

PAYLOADS = Path(__file__).parent / "payloads"
WEBHOOK_SECRET = "whsec_OpsConsoleTestSigningSecret000000000001"
WEBHOOK_URL = "/stripe/webhook/"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_LIVE_MODE = False
    settings.INCOME_CURRENCY = "usd"
    return WEBHOOK_SECRET


def stripe_event(event_type: str, *, event_id: str | None = None, at: datetime | None = None, **fields) -> dict:
    """A payload file with the object's fields replaced (amounts in minor units, as Stripe sends them)."""
    event = copy.deepcopy(json.loads((PAYLOADS / f"{event_type}.json").read_text()))
    event["data"]["object"].update(fields)
    if event_id:
        event["id"] = event_id
    if at:
        event["created"] = int(at.timestamp())
    return event


def stripe_signature(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header: HMAC-SHA256 of "<timestamp>.<body>" (docs.stripe.com/webhooks#verify-manually)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@pytest.fixture
def post_event(client):
    def post(event: dict | str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None, **headers):
        body = event if isinstance(event, str) else json.dumps(event)
        headers.setdefault("HTTP_STRIPE_SIGNATURE", stripe_signature(body, secret, timestamp))
        return client.post(WEBHOOK_URL, data=body, content_type="application/json", **headers)

    return post


def finished_task(ai_model, task_type_slug: str, *, status: str = "succeeded", cost: str | None = "0.10",
                  finished_at: datetime | None = None) -> ExecutionTask:  # fmt: skip
    """A task that has run: the rollup triggers count it on its finish day."""
    return ExecutionTask.objects.create(
        task_type=TaskType.objects.get(slug=task_type_slug), ai_model=ai_model, status=status, attempts=1,
        cost=None if cost is None else Decimal(cost), finished_at=finished_at or timezone.now(),
        started_at=finished_at or timezone.now(),
    )  # fmt: skip


@pytest.fixture
def two_models(db):
    return AIModelFactory(name="model-alpha"), AIModelFactory(name="model-beta")
