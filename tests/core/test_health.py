import json

import pytest
from django.urls import reverse
from rq import Queue, Worker

from tests.conftest import ROOT, manage_py

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_redis_and_workers(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok", "workers": 0}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_503_when_redis_is_down(client, settings):
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:1/0"}}  # nothing listens on port 1
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "redis": "unreachable", "workers": None}


def test_healthz_is_503_when_the_database_is_down():
    script = (
        "import django, json; django.setup(); from django.test import Client; "
        "r = Client(HTTP_HOST='10.0.0.7').get('/healthz'); print(json.dumps([r.status_code, r.json()]))"
    )
    result = manage_py(
        "shell",
        "--no-imports",
        "-c",
        script,
        env={"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere", "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    status, body = json.loads(result.stdout.strip().splitlines()[-1])
    assert (status, body["database"], body["redis"], body["status"]) == (503, "unreachable", "ok", "unavailable")


def test_healthz_answers_probes_by_ip_address_in_production():
    """Load balancers probe with their own Host header and plain HTTP: no 400, no HTTPS redirect."""
    result = manage_py(
        "shell",
        "--no-imports",
        "-c",
        "from django.test import Client; print(Client(HTTP_HOST='10.0.0.7').get('/healthz').status_code)",
        env={
            "DEBUG": "false",
            "SECRET_KEY": "k" * 20 + "production-like-secret-key-0123456789",
            "ALLOWED_HOSTS": "ops.example.com",
        },
    )
    assert result.stdout.strip() == "200", result.stderr


def test_healthz_counts_a_running_worker(client, redis_test_db):
    assert client.get(reverse("healthz")).json()["workers"] == 0
    worker = Worker([Queue("default", connection=redis_test_db)], connection=redis_test_db)
    worker.register_birth()
    try:
        assert client.get(reverse("healthz")).json()["workers"] == 1
    finally:
        worker.register_death()
    assert client.get(reverse("healthz")).json()["workers"] == 0
