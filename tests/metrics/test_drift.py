"""Drift alerts judge each model x task type against its own baseline (the same hour on the trailing days): a
failure rate that jumps opens an alert for that model, the same rate on a model that always fails that much does
not; the alert closes when the metric returns, comes back as the same row when it flaps, and is announced by mail
and by a signed POST (sent by a real RQ worker)."""

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import django_rq
import pytest
from django.core import mail
from rq import SimpleWorker

from apps.execution.models import ExecutionTask, TaskType
from apps.metrics.drift import drift_evaluate
from apps.metrics.models import Alert, AlertRule
from tests.execution.factories import AIModelFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)  # judged: the complete hours 10:00 and 11:00
RUNS = 50


def hour_of_runs(model: str, task_type: TaskType, hour: datetime, failures: int, runs: int = RUNS) -> None:
    ExecutionTask.objects.bulk_create(
        ExecutionTask(
            task_type=task_type,
            ai_model_id=model,
            status="failed" if n < failures else "succeeded",
            payload={},
            attempts=1,
            finished_at=hour + timedelta(minutes=1 + n % 50),
        )  # fmt: skip
        for n in range(runs)
    )


def baseline(model: str, task_type: TaskType, failures: int, hours=(10, 11, 12, 13, 14, 15)) -> None:
    for day in range(1, 8):
        for hour in hours:
            at = NOW.replace(hour=hour, minute=0) - timedelta(days=day)
            hour_of_runs(model, task_type, at, failures + (day % 3) - 1)  # a little spread, as real hours have


@pytest.fixture
def pairs(db):
    steady, flaky = AIModelFactory(name="steady").name, AIModelFactory(name="flaky").name
    task_type = TaskType.objects.get(slug="implement_idea")
    baseline(steady, task_type, failures=1)  # about 2 %
    baseline(flaky, task_type, failures=20)  # about 40 %, every day
    return steady, flaky, task_type


class Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/ops", Receiver.received
    server.shutdown()


def work_off_queue(redis) -> None:
    SimpleWorker([django_rq.get_queue("default")], connection=redis).work(burst=True)


def test_a_jump_over_its_own_baseline_opens_an_alert_and_the_same_rate_as_usual_does_not(
    pairs, settings, receiver, redis_test_db, django_capture_on_commit_callbacks
):
    steady, flaky, task_type = pairs
    url, received = receiver
    settings.ALERT_EMAILS, settings.ALERT_WEBHOOK_URLS = ["ops@example.com"], [url]
    settings.ALERT_WEBHOOK_SECRET = "s3cret"
    for hour in (10, 11):
        hour_of_runs(steady, task_type, NOW.replace(hour=hour, minute=0), failures=20)  # 40 %: 20x its usual
        hour_of_runs(flaky, task_type, NOW.replace(hour=hour, minute=0), failures=20)  # 40 %: as always

    with django_capture_on_commit_callbacks(execute=True):
        assert drift_evaluate(NOW)["opened"] == 1
    alert = Alert.objects.get()
    assert (alert.rule.metric, alert.ai_model, alert.task_type, alert.status) == (
        "failure_rate", "steady", task_type, "open"
    )  # fmt: skip
    assert alert.value == 0.4 and alert.baseline_median == pytest.approx(0.02) and alert.limit < 0.2
    assert not Alert.objects.filter(ai_model="flaky").exists()

    work_off_queue(redis_test_db)
    [message] = mail.outbox
    assert message.to == ["ops@example.com"] and "alert opened" in message.subject and "steady" in message.subject
    [(headers, body)] = received
    expected = hmac.new(b"s3cret", headers["X-Opsconsole-Timestamp"].encode() + b"." + body, hashlib.sha256)
    assert headers["X-Opsconsole-Signature"] == "sha256=" + expected.hexdigest()
    payload = json.loads(body)
    assert (payload["event"], payload["metric"], payload["ai_model"], payload["task_type"], payload["value"]) == (
        "opened", "failure_rate", "steady", "implement_idea", 0.4
    )  # fmt: skip

    # judged again an hour later, still beyond: the same alert, no second message
    hour_of_runs(steady, task_type, NOW.replace(hour=12, minute=0), failures=20)
    with django_capture_on_commit_callbacks(execute=True):
        assert drift_evaluate(NOW + timedelta(hours=1))["opened"] == 0
    assert Alert.objects.count() == 1

    # the metric returns: the alert closes (and says so)
    hour_of_runs(steady, task_type, NOW.replace(hour=13, minute=0), failures=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert drift_evaluate(NOW + timedelta(hours=2))["closed"] == 1
    alert.refresh_from_db()
    assert alert.status == "closed" and alert.closed_at == NOW + timedelta(hours=2)
    work_off_queue(redis_test_db)
    assert [json.loads(body)["event"] for _, body in received] == ["opened", "closed"]

    # it flaps back within the quiet period: the same row reopens, nobody is told twice
    hour_of_runs(steady, task_type, NOW.replace(hour=14, minute=0), failures=25)
    hour_of_runs(steady, task_type, NOW.replace(hour=15, minute=0), failures=25)
    with django_capture_on_commit_callbacks(execute=True):
        drift_evaluate(NOW + timedelta(hours=4))
    alert.refresh_from_db()
    assert (alert.status, alert.reopened, Alert.objects.count()) == ("open", 1, 1)
    work_off_queue(redis_test_db)
    assert len(received) == 2 and len(mail.outbox) == 2


def test_fixed_thresholds_still_work_and_need_a_value(pairs):
    steady, flaky, task_type = pairs
    for hour in (10, 11):
        hour_of_runs(flaky, task_type, NOW.replace(hour=hour, minute=0), failures=20)
    AlertRule.objects.filter(kind="drift").update(enabled=False)
    AlertRule.objects.create(name="Failure rate over 30 %", metric="failure_rate", kind="above", threshold=0.3)
    drift_evaluate(NOW)
    alert = Alert.objects.get()
    assert (alert.ai_model, alert.limit, alert.value) == ("flaky", 0.3, 0.4)


def test_an_hour_with_too_few_runs_is_not_judged(pairs):
    steady, flaky, task_type = pairs
    for hour in (10, 11):
        hour_of_runs(steady, task_type, NOW.replace(hour=hour, minute=0), failures=3, runs=5)  # 60 % of 5 runs
    drift_evaluate(NOW)
    assert not Alert.objects.exists()


def test_an_open_alert_nothing_judges_any_more_closes(pairs):
    """A rule switched off (or a pair that stopped running) cannot see the metric return: its alerts close."""
    steady, flaky, task_type = pairs
    for hour in (10, 11):
        hour_of_runs(steady, task_type, NOW.replace(hour=hour, minute=0), failures=20)
    drift_evaluate(NOW)
    alert = Alert.objects.get()
    AlertRule.objects.filter(pk=alert.rule_id).update(enabled=False)
    assert drift_evaluate(NOW + timedelta(minutes=5))["closed"] == 1
    alert.refresh_from_db()
    assert alert.status == "closed"


def test_an_open_alert_whose_latest_hour_has_no_baseline_stays_open_and_the_others_are_judged(pairs):
    steady, flaky, task_type = pairs
    for hour in (10, 11):
        hour_of_runs(steady, task_type, NOW.replace(hour=hour, minute=0), failures=20)
    drift_evaluate(NOW)
    hour_of_runs(steady, task_type, NOW.replace(hour=16, minute=0), failures=20)  # no earlier 16:00 to compare
    hour_of_runs(flaky, task_type, NOW.replace(hour=16, minute=0), failures=20)
    drift_evaluate(NOW.replace(hour=17))
    alert = Alert.objects.get()
    assert alert.status == "open" and alert.value == 0.4
