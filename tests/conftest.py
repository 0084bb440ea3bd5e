"""Shared fixtures: real PostgreSQL (pytest-django's test database), real Redis on a database of its own,
users per role, and helpers for tests that run `manage.py` in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import django_rq
import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.execution.factories import AIModelFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
# Never the database the console itself uses (0) or the benchmark's (14); one per pytest-xdist worker (`-n`).
TEST_REDIS_DBS = (15, 13, 12, 11, 10, 9, 8, 7)
TEST_REDIS_DB = TEST_REDIS_DBS[int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))]


def redis_url_with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if parts.scheme == "unix":
        query["db"] = str(db)
        return f"unix://{parts.path}?{urlencode(query)}"  # geturl() would drop the empty host
    query.pop("db", None)
    return parts._replace(path=f"/{db}", query=urlencode(query)).geturl()


pytest_plugins = ["tests.browser", "tests.template_db"]  # headless Chromium; `--template-db`

TEST_REDIS_URL = redis_url_with_db(os.environ["REDIS_URL"], TEST_REDIS_DB)
os.environ["REDIS_URL"] = TEST_REDIS_URL  # for `manage.py` subprocesses


@pytest.fixture(autouse=True)
def redis_test_db(settings):
    """Every test gets an empty Redis database of its own."""
    settings.REDIS_URL = TEST_REDIS_URL
    settings.RQ_QUEUES = {name: {**config, "URL": TEST_REDIS_URL} for name, config in settings.RQ_QUEUES.items()}
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": TEST_REDIS_URL}}  # throttles
    connection = django_rq.get_connection("default")
    assert connection.connection_pool.connection_kwargs["db"] == TEST_REDIS_DB
    connection.flushdb()
    yield connection
    connection.flushdb()


def _user_in(group_name: str, username: str):
    user = UserFactory(username=username, is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def operator(db):
    return _user_in("Operators", "olga-operator")


@pytest.fixture
def reviewer(db):
    return _user_in("Reviewers", "rita-reviewer")


@pytest.fixture
def offer_builder(db):
    return _user_in("Offer builders", "otto-offers")


@pytest.fixture
def ai_model(db):
    return AIModelFactory(name="qwen2.5-coder-32b")


def token_client(user) -> APIClient:
    """An API client that signs in with the user's token, as the AI system or a script does."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def manage_py(*args: str, env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run `manage.py` as a separate process, the way an operator or the worker supervisor would."""
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def fake_stripe(settings, monkeypatch):
    """The local Stripe stand-in (tests/fakes/stripe_api.py), with the console pointed at it: our calls read
    STRIPE_API_BASE per call; dj-stripe's own calls use `stripe.api_base`, which dj-stripe sets from
    STRIPE_API_HOST once at start-up, so a test that starts its server later sets it as start-up would."""
    import stripe

    from tests.fakes.stripe_api import SECRET_KEY, FakeStripe

    server = FakeStripe().start()
    settings.STRIPE_API_BASE = settings.STRIPE_API_HOST = server.base_url
    monkeypatch.setattr(stripe, "api_base", server.base_url)
    settings.STRIPE_TEST_SECRET_KEY = SECRET_KEY
    settings.STRIPE_LIVE_MODE = False
    settings.OFFERS_STRIPE_RETRY_SECONDS = 0
    yield server
    server.stop()
