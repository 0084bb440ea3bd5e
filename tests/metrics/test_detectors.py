"""Each blind-spot detector on real rows: it reports the condition once, counts it again on the next run (one row,
not two), and resolves the finding itself on the first run that no longer sees it."""

import json
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import django_rq
import pytest
from django.urls import reverse
from django.utils import timezone
from djstripe.models import WebhookEventTrigger
from rq import Queue, Worker

from apps.execution.executors import ExecutorOutput
from apps.execution.models import AIModel, ExecutionEvent, ExecutionTask, TaskType
from apps.execution.services import execution_pause, execution_resume, task_cancel, task_create
from apps.execution.services.running import task_claim, task_record_success
from apps.income.services import income_record_manual
from apps.metrics.findings import CLEARED_NOTE, detectors_run
from apps.metrics.models import DetectorState, FailureSignature, Finding
from tests.execution.factories import AIModelFactory, TaskTypeFactory

pytestmark = pytest.mark.django_db
Status = Finding.Status
Kind = ExecutionEvent.Kind
TIMEOUT_TRACEBACK = (
    'Traceback (most recent call last):\n  File "/srv/app/executors.py", line {line}, in run\n'
    "    reply = client.chat.completions.create(**request)\n"
    "openai.APITimeoutError: Request timed out after {seconds} s (attempt {attempt})."
)
TIMED_OUT = "Traceback (most recent call last):\n ...\nopenai.APITimeoutError: Request timed out."


def detect(name: str, now) -> list[Finding]:
    """Run one detector the way the cron job does and return its findings, oldest first."""
    opened = detectors_run(now, only=[name])
    assert opened[name] >= 0, f"detector {name} raised (see the log)"
    return list(Finding.objects.filter(detector=name).order_by("id"))


def changelist(model_label: str, **filters) -> str:
    app, model = model_label.split(".")
    url = reverse(f"admin:{app}_{model}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def change(model_label: str, pk) -> str:
    app, model = model_label.split(".")
    return reverse(f"admin:{app}_{model}_change", args=[pk])


def links(finding: Finding) -> list[list[str]]:
    """Label and URL of each link (a link may also carry the permission needed to open it)."""
    return [list(link[:2]) for link in finding.links]


def assert_counted_again(finding: Finding, *, first: Finding, now) -> None:
    """The same row as last time, seen twice, with last_seen moved and first_seen kept."""
    assert finding.pk == first.pk
    assert finding.status == Status.OPEN
    assert finding.occurrences == 2
    assert finding.first_seen == first.first_seen
    assert finding.last_seen == now > first.last_seen


def assert_cleared(finding: Finding, *, now) -> None:
    assert finding.status == Status.RESOLVED
    assert finding.resolved_at == now and finding.resolved_by is None
    assert finding.resolution_note == CLEARED_NOTE


def finished_task(task_type, ai_model, *, at, status="succeeded", error="") -> ExecutionTask:
    """A task that ran once and finished at `at`; the rollup triggers count it."""
    return ExecutionTask.objects.create(task_type=task_type, ai_model=ai_model, status=status, payload={},
                                        attempts=1, finished_at=at, duration_ms=1200, error=error)  # fmt: skip


def test_stalled_task_type_is_reported_until_a_task_of_the_type_runs(ai_model):
    """Queued work that nothing picks up is the most expensive blind spot: the queue looks healthy, nothing runs."""
    now = timezone.now()
    digest = TaskTypeFactory(slug="nightly-digest")
    finished_task(digest, ai_model, at=now - timedelta(hours=5))
    queued = now - timedelta(hours=3)
    ExecutionTask.objects.create(task_type=digest, ai_model=ai_model, status="queued", payload={}, queued_at=queued)
    busy = TaskType.objects.get(slug="implement_idea")  # queued work, and a run 10 minutes ago: not stalled
    ExecutionTask.objects.create(task_type=busy, ai_model=ai_model, status="queued", payload={}, queued_at=queued)
    fresh = TaskTypeFactory(slug="just-queued")  # queued a minute ago: nothing had time to pick it up
    ExecutionTask.objects.create(task_type=fresh, ai_model=ai_model, status="queued", payload={},
                                 queued_at=now - timedelta(minutes=1))  # fmt: skip
    finished_task(busy, ai_model, at=now - timedelta(minutes=10))

    [first] = detect("stalled_task_type", now)
    assert (first.fingerprint, first.severity, first.status) == ("type:nightly-digest", "critical", Status.OPEN)
    assert first.title == "nightly-digest: queued work and no run for 2 h"
    last_hour = (now - timedelta(hours=5)).replace(minute=0, second=0, microsecond=0)
    assert first.detail == f"Last run finished in the hour from {last_hour:%Y-%m-%d %H:%M} UTC."
    assert links(first) == [["queued tasks", changelist("execution.executiontask", status__exact="queued",
                                                        task_type__id__exact=digest.pk)]]  # fmt: skip

    later = now + timedelta(minutes=5)
    [again] = detect("stalled_task_type", later)
    assert_counted_again(again, first=first, now=later)

    finished_task(digest, ai_model, at=later + timedelta(minutes=1))
    cleared = later + timedelta(minutes=5)
    [resolved] = detect("stalled_task_type", cleared)
    assert_cleared(resolved, now=cleared)


def test_stalled_task_type_clears_when_nothing_is_queued_any_more(ai_model):
    """A type that never ran says so; cancelling its queued work is also a way out."""
    now = timezone.now()
    idle = TaskTypeFactory(slug="weekly-report")
    waiting = ExecutionTask.objects.create(task_type=idle, ai_model=ai_model, status="queued", payload={},
                                           queued_at=now - timedelta(hours=3))  # fmt: skip
    [first] = detect("stalled_task_type", now)
    assert first.detail == "It never ran."
    execution_pause(actor=None, reason="maintenance")  # paused, nothing starts: the banner says so, no finding
    [paused] = detect("stalled_task_type", now + timedelta(minutes=1))
    assert paused.status == Status.RESOLVED
    execution_resume(actor=None, reason="maintenance over")
    [back] = detect("stalled_task_type", now + timedelta(minutes=2))
    assert back.status == Status.OPEN
    ExecutionTask.objects.filter(pk=waiting.pk).update(status="cancelled")
    [resolved] = detect("stalled_task_type", now + timedelta(minutes=5))
    assert_cleared(resolved, now=now + timedelta(minutes=5))


def test_model_without_price_is_reported_until_it_is_priced(ai_model):
    """Runs on an unpriced model have no cost, so ROI silently leaves them out."""
    now = timezone.now()
    mystery = AIModelFactory(name="mystery-7b", input_price_per_million=None, output_price_per_million=None)
    AIModelFactory(name="idle-13b", input_price_per_million=None, output_price_per_million=None)  # no runs: fine
    implement = TaskType.objects.get(slug="implement_idea")
    finished_task(implement, mystery, at=now - timedelta(hours=1))
    finished_task(implement, ai_model, at=now - timedelta(hours=1))  # priced: fine

    [first] = detect("model_without_price", now)
    assert (first.fingerprint, first.severity) == ("model:mystery-7b", "warning")
    assert first.title == "mystery-7b: 1 runs without a price"
    its_tasks = changelist("execution.executiontask", ai_model__name__exact="mystery-7b")
    assert links(first) == [["model", change("execution.aimodel", mystery.pk)], ["its tasks", its_tasks]]

    finished_task(implement, mystery, at=now)
    later = now + timedelta(minutes=5)
    [again] = detect("model_without_price", later)
    assert_counted_again(again, first=first, now=later)
    assert again.title == "mystery-7b: 2 runs without a price"

    AIModel.objects.filter(pk=mystery.pk).update(input_price_per_million=Decimal("0.2"), output_price_per_million=1)
    cleared = later + timedelta(minutes=5)
    [resolved] = detect("model_without_price", cleared)
    assert_cleared(resolved, now=cleared)


def test_model_priced_for_input_only_is_still_unpriced(ai_model):
    """Half a price is no price: the output tokens' cost is unknown."""
    now = timezone.now()
    half = AIModelFactory(name="half-priced", output_price_per_million=None)
    finished_task(TaskType.objects.get(slug="implement_idea"), half, at=now - timedelta(hours=1))
    assert [finding.fingerprint for finding in detect("model_without_price", now)] == ["model:half-priced"]


def test_unattributed_income_is_reported_while_inside_the_lookback_window(operator, ai_model, settings):
    """Money that no model or task type earned cannot be in any ROI figure."""
    now = timezone.now()
    income_record_manual(amount=Decimal("12.50"), currency="usd", occurred_at=now - timedelta(hours=1),
                         reason="bank transfer, invoice 2026-114", actor=operator)  # fmt: skip
    income_record_manual(amount=Decimal("99"), currency="usd", occurred_at=now - timedelta(hours=1),
                         reason="consulting for the implement_idea run", actor=operator, ai_model=ai_model,
                         task_type=TaskType.objects.get(slug="implement_idea"))  # attributed: fine  # fmt: skip

    [first] = detect("unattributed_income", now)
    assert (first.fingerprint, first.severity) == ("currency:usd", "warning")
    assert first.title == "1 income rows (12.500 USD) not attributed"
    assert links(first) == [["unattributed income", changelist("income.incomeevent", attributed="no", currency="usd")]]

    income_record_manual(amount=Decimal("7.50"), currency="usd", occurred_at=now, reason="cash", actor=operator)
    later = now + timedelta(minutes=5)
    [again] = detect("unattributed_income", later)
    assert_counted_again(again, first=first, now=later)
    assert again.title == "2 income rows (20.000 USD) not attributed"

    cleared = now + timedelta(days=settings.METRICS_LOOKBACK_DAYS + 1)
    [resolved] = detect("unattributed_income", cleared)
    assert_cleared(resolved, now=cleared)


def test_new_failure_signature_groups_errors_that_differ_only_in_numbers(ai_model, settings):
    """A new kind of failure is news for a day; the same failure with other numbers in it is not a new kind."""
    now = timezone.now()
    implement = TaskType.objects.get(slug="implement_idea")
    first_task = finished_task(implement, ai_model, status="failed", at=now - timedelta(minutes=30),
                               error=TIMEOUT_TRACEBACK.format(line=88, seconds=30, attempt=1))  # fmt: skip
    finished_task(implement, ai_model, status="failed", at=now - timedelta(minutes=20),
                  error=TIMEOUT_TRACEBACK.format(line=91, seconds=600, attempt=3))  # fmt: skip
    finished_task(implement, ai_model, at=now - timedelta(minutes=10))  # succeeded: no signature

    [first] = detect("new_failure_signature", now)
    assert first.title == "New failure: openai.APITimeoutError: Request timed out after # s (attempt #)."
    assert first.fingerprint.startswith("signature:") and first.severity == "warning"
    assert first.detail.endswith(f"on task #{first_task.pk}; 2 so far.")
    failed_tasks = changelist("execution.executiontask", status__exact="failed")
    assert links(first) == [
        ["first task", change("execution.executiontask", first_task.pk)],
        ["failed tasks", failed_tasks],
    ]
    assert FailureSignature.objects.get().count == 2

    finished_task(implement, ai_model, status="failed", at=now, error=TIMEOUT_TRACEBACK.format(line=7, seconds=5,
                                                                                               attempt=2))  # fmt: skip
    later = now + timedelta(minutes=5)
    [again] = detect("new_failure_signature", later)
    assert_counted_again(again, first=first, now=later)
    assert again.detail.endswith("; 3 so far.")

    cleared = now + timedelta(hours=settings.METRICS_NEW_FAILURE_HOURS, minutes=1)
    [resolved] = detect("new_failure_signature", cleared)
    assert_cleared(resolved, now=cleared)


def test_new_failure_signature_reports_different_errors_apart(ai_model):
    """The brief's own example: a plain timeout and a rate limit are two kinds of failure."""
    now = timezone.now()
    implement = TaskType.objects.get(slug="implement_idea")
    rate_limited = "Traceback (most recent call last):\n ...\nopenai.RateLimitError: Error code: 429"
    for error in (TIMED_OUT, rate_limited):
        finished_task(implement, ai_model, status="failed", at=now - timedelta(minutes=5), error=error)
    assert [finding.title for finding in detect("new_failure_signature", now)] == [
        "New failure: openai.APITimeoutError: Request timed out.",
        "New failure: openai.RateLimitError: Error code: #",
    ]


def test_new_failure_signature_sees_a_failure_of_an_older_task_after_a_newer_one_failed(ai_model):
    """Two tasks run side by side; the newer fails first and the detector runs; then the older fails in a new way.
    That failure is as new as any, but its task id is below the watermark, so the detector never reads it."""
    now = timezone.now()
    implement = TaskType.objects.get(slug="implement_idea")
    older = ExecutionTask.objects.create(task_type=implement, ai_model=ai_model, status="running", payload={},
                                         attempts=1)  # fmt: skip
    finished_task(implement, ai_model, status="failed", at=now - timedelta(minutes=2), error=TIMED_OUT)
    assert len(detect("new_failure_signature", now)) == 1
    assert DetectorState.objects.get(detector="new_failure_signature").watermark > older.pk

    older.status, older.finished_at = "failed", now + timedelta(minutes=1)
    older.error = "Traceback (most recent call last):\n ...\nopenai.AuthenticationError: Error code: 401"
    older.save()
    titles = [finding.title for finding in detect("new_failure_signature", now + timedelta(minutes=5))]
    assert "New failure: openai.AuthenticationError: Error code: #" in titles


def test_unrated_task_type_is_reported_until_someone_rates_it():
    """An unrated type sends every task to review as high risk; somebody has to rate it."""
    now = timezone.now()
    scraper = TaskType.objects.create(slug="scrape-competitors")  # the seeded types are all rated

    [first] = detect("unrated_task_type", now)
    assert (first.fingerprint, first.severity) == ("type:scrape-competitors", "warning")
    assert first.title == "scrape-competitors: never rated for risk"
    assert links(first) == [["task type", change("execution.tasktype", scraper.pk)]]

    later = now + timedelta(minutes=5)
    [again] = detect("unrated_task_type", later)
    assert_counted_again(again, first=first, now=later)

    TaskType.objects.filter(pk=scraper.pk).update(risk_rated_at=later)
    cleared = later + timedelta(minutes=5)
    [resolved] = detect("unrated_task_type", cleared)
    assert_cleared(resolved, now=cleared)


def test_queue_without_worker_is_reported_while_jobs_wait_and_no_worker_listens(redis_test_db):
    """Jobs pile up silently when every worker is gone; a live worker, or an empty queue, is all right."""
    now = timezone.now()
    queue = django_rq.get_queue("default", commit_mode="auto")  # tests run inside a transaction that never commits
    queue.enqueue("builtins.print", "x")

    [first] = detect("queue_without_worker", now)
    assert (first.fingerprint, first.severity) == ("queue:default", "critical")
    assert first.title == "Queue default: 1 jobs and no worker"
    assert links(first) == [["queues", reverse("admin:execution_executiontask_queue_statistics")]]

    queue.enqueue("builtins.print", "y")
    later = now + timedelta(minutes=5)
    [again] = detect("queue_without_worker", later)
    assert_counted_again(again, first=first, now=later)
    assert again.title == "Queue default: 2 jobs and no worker"

    worker = Worker([Queue("default", connection=redis_test_db)], connection=redis_test_db)
    worker.register_birth()
    try:
        [listened] = detect("queue_without_worker", later + timedelta(minutes=5))
        assert_cleared(listened, now=later + timedelta(minutes=5))
    finally:
        worker.register_death()

    [reopened] = detect("queue_without_worker", later + timedelta(minutes=10))  # the worker died: again
    assert (reopened.pk, reopened.status, reopened.occurrences) == (first.pk, Status.OPEN, 3)
    assert reopened.resolved_at is None

    queue.empty()
    cleared = later + timedelta(minutes=15)
    [resolved] = detect("queue_without_worker", cleared)
    assert_cleared(resolved, now=cleared)


def webhook(event_type: str, event_id: str, *, valid: bool = True) -> WebhookEventTrigger:
    return WebhookEventTrigger.objects.create(remote_ip="127.0.0.1", headers={}, valid=valid,
                                              body=json.dumps({"id": event_id, "type": event_type}))  # fmt: skip


def test_unhandled_stripe_event_is_reported_while_inside_the_lookback_window(settings):
    """Stripe sends what the endpoint subscribes to; a type the ledger ignores may be money nobody books."""
    now = timezone.now()
    delivery = webhook("customer.created", "evt_1")
    webhook("payment_intent.succeeded", "evt_2")  # handled: fine
    webhook("customer.deleted", "evt_3", valid=False)  # not signed by Stripe: not Stripe's word

    [first] = detect("unhandled_stripe_event", now)
    assert (first.fingerprint, first.severity) == ("type:customer.created", "info")
    assert first.title == "Stripe sends customer.created (1x) and nothing handles it"
    assert links(first) == [["latest delivery", change("djstripe.webhookeventtrigger", delivery.pk)]]

    newer = webhook("customer.created", "evt_4")
    later = now + timedelta(minutes=5)
    [again] = detect("unhandled_stripe_event", later)
    assert_counted_again(again, first=first, now=later)
    assert again.title == "Stripe sends customer.created (2x) and nothing handles it"
    assert links(again) == [["latest delivery", change("djstripe.webhookeventtrigger", newer.pk)]]

    WebhookEventTrigger.objects.update(created=now - timedelta(hours=1))  # delivered an hour before the first run
    cleared = now + timedelta(days=settings.METRICS_LOOKBACK_DAYS)
    [resolved] = detect("unhandled_stripe_event", cleared)
    assert_cleared(resolved, now=cleared)


def events(task: ExecutionTask, *kinds: str) -> list[ExecutionEvent]:
    return [ExecutionEvent.objects.create(task=task, kind=kind, ai_model=task.ai_model_id) for kind in kinds]


def test_event_order_broken_is_reported_until_the_bad_event_is_gone(ai_model):
    """A task that went from created straight to completed changed status outside the funnel (no claim, no run):
    the audit trail cannot say what happened. The detector reads only new events, so an open finding is
    checked again by task, or it would resolve on the next run by itself."""
    now = timezone.now() + timedelta(minutes=2)  # events are read once COMMIT_LAG has passed
    implement = TaskType.objects.get(slug="implement_idea")
    bypassed = ExecutionTask.objects.create(task_type=implement, ai_model=ai_model, status="succeeded", payload={})
    shortcut = events(bypassed, Kind.CREATED, Kind.COMPLETED)[1]
    proper = ExecutionTask.objects.create(task_type=implement, ai_model=ai_model, status="succeeded", payload={})
    events(proper, Kind.CREATED, Kind.QUEUED, Kind.STARTED, Kind.COMPLETED)  # the funnel's own order: fine

    [first] = detect("event_order_broken", now)
    assert (first.fingerprint, first.severity) == (f"task:{bypassed.pk}", "critical")
    assert first.title == f"Task #{bypassed.pk}: events out of the state machine's order"
    assert first.detail == "created -> completed is not a move the state machine allows."
    assert links(first) == [["task", change("execution.executiontask", bypassed.pk)],
                             ["its events", changelist("execution.executionevent", q=bypassed.pk)]]  # fmt: skip

    later = now + timedelta(minutes=5)
    [again] = detect("event_order_broken", later)  # no new events since: found by the recheck of open findings
    assert_counted_again(again, first=first, now=later)

    shortcut.delete()
    cleared = later + timedelta(minutes=5)
    [resolved] = detect("event_order_broken", cleared)
    assert_cleared(resolved, now=cleared)


def test_event_order_broken_sees_a_retry_and_a_review_as_allowed(ai_model):
    """Longer lives the state machine allows (review, a failed attempt retried by a person) are not findings."""
    implement = TaskType.objects.get(slug="implement_idea")
    reviewed = ExecutionTask.objects.create(task_type=implement, ai_model=ai_model, status="succeeded", payload={})
    events(reviewed, Kind.CREATED, Kind.SENT_TO_REVIEW, Kind.APPROVED, Kind.QUEUED, Kind.STARTED, Kind.FAILED,
           Kind.RETRIED, Kind.STARTED, Kind.COMPLETED)  # fmt: skip
    assert detect("event_order_broken", timezone.now()) == []


def test_event_order_broken_passes_a_task_run_through_the_real_funnel(ai_model, operator):
    """The control for the test below: created, queued, started and completed as the services write them."""
    task = task_create(task_type="implement_idea", ai_model=ai_model, created_by=operator)
    task_claim(task_id=task.pk)
    assert task_record_success(task=task, output=ExecutorOutput(result={"ok": True}), duration_ms=5) == "succeeded"
    assert list(task.events.values_list("kind", flat=True)) == ["created", "queued", "started", "completed"]
    assert detect("event_order_broken", timezone.now()) == []


def test_event_order_broken_passes_a_running_task_cancelled_by_a_person(ai_model, operator):
    """task_cancel on a running task records a `cancelled` event while the task keeps running; the worker's
    safe point then records the real move to cancelled. The services did nothing wrong, yet the detector reads
    `cancelled -> cancelled` (a move out of a final status) and reports the task as bypassing the funnel."""
    task = task_create(task_type="implement_idea", ai_model=ai_model, created_by=operator)
    task_claim(task_id=task.pk)
    task_cancel(task=task, actor=operator)
    assert task_record_success(task=task, output=ExecutorOutput(result={"ok": True}), duration_ms=5) == "cancelled"
    assert list(task.events.values_list("kind", flat=True)) == ["created", "queued", "started", "cancelled",
                                                                  "cancelled"]  # fmt: skip
    assert detect("event_order_broken", timezone.now()) == []
