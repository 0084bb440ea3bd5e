"""Admin logins lock out after repeated wrong passwords; the API answers 429 past its rates, wrong tokens too."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.conftest import token_client

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"
PASSWORD = "correct horse battery staple"  # tests.execution.factories.UserFactory's


def login(client, username, password, **headers):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, **headers)


def test_five_wrong_passwords_lock_the_login_and_the_sixth_attempt_is_refused_even_if_right(client, operator):
    for _ in range(4):
        response = login(client, operator.username, "wrong")
        assert response.status_code == 200 and "Please enter the correct username and password" in response.text
    fifth = login(client, operator.username, "wrong")
    assert fifth.status_code == 429 and "after 5 failed attempts" in fifth.text
    for password in ("wrong", PASSWORD):
        response = login(client, operator.username, password)
        assert response.status_code == 429
        assert "Login locked" in response.text and "for 0:15:00" in response.text
    assert "_auth_user_id" not in client.session


def test_lockout_counts_per_username_from_any_address(client, operator):
    for number in range(4):
        login(client, operator.username, "wrong", REMOTE_ADDR=f"203.0.113.{number}")
    assert login(client, operator.username, "wrong", REMOTE_ADDR="203.0.113.99").status_code == 429
    assert login(client, operator.username, PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 429


def test_a_right_password_before_the_limit_logs_in(client, operator):
    for _ in range(4):
        login(client, operator.username, "wrong")
    assert login(client, operator.username, PASSWORD).status_code == 302


def test_logging_in_as_yourself_does_not_clear_your_guesses_at_someone_else(client, operator, reviewer):
    for _ in range(4):
        login(client, reviewer.username, "guess")
    assert login(client, operator.username, PASSWORD).status_code == 302  # the guesser's own account
    client.logout()
    assert login(client, reviewer.username, "guess").status_code == 429


def test_the_api_keeps_working_unthrottled_while_the_throttle_counts_are_unreachable(operator, ai_model, settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}  # dead
    response = token_client(operator).post("/api/tasks/", {"task_type": "implement_idea", "ai_model": ai_model.name},
                                           format="json")  # fmt: skip
    assert response.status_code == 201
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert wrong.get("/api/tasks/").status_code == 401


@pytest.fixture
def rates(monkeypatch):
    """DRF reads its rates once, at import: set them on the classes for the test."""

    def set_rates(**rates):
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, **rates})

    return set_rates


def test_api_answers_429_with_retry_after_past_the_per_token_rate(operator, rates):
    rates(user="5/minute")
    api = token_client(operator)
    statuses = [api.get("/api/tasks/").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    response = api.get("/api/tasks/")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0


def test_wrong_tokens_are_throttled_and_then_even_the_right_one_waits(operator, rates):
    rates(failed_token="10/hour")
    api = APIClient()
    for number in range(10):
        api.credentials(HTTP_AUTHORIZATION=f"Token {number:040d}")
        assert api.get("/api/tasks/").status_code == 401
    api.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000099")
    response = api.get("/api/tasks/")
    assert response.status_code == 429 and "Too many wrong API tokens" in response.json()["detail"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator).key}")
    assert api.get("/api/tasks/").status_code == 429
    other_address = APIClient(REMOTE_ADDR="198.51.100.9")
    other_address.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=operator).key}")
    assert other_address.get("/api/tasks/").status_code == 200


def test_anonymous_requests_are_counted_per_address_before_their_401(rates):
    rates(anon="3/minute")
    api = APIClient()
    assert [api.get("/api/tasks/").status_code for _ in range(4)] == [401, 401, 401, 429]
    assert api.get("/api/schema/").status_code == 429  # every endpoint, one count per address
    assert APIClient(REMOTE_ADDR="198.51.100.9").get("/api/tasks/").status_code == 401
