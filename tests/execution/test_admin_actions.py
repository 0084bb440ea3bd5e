"""Admin actions on tasks (one, ticked, or every task matching the filters), the pause switch and its banner."""

import pytest
from django.urls import reverse
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry

from apps.execution.models import BulkOperation, ExecutionControl, ExecutionEvent, ExecutionTask
from apps.execution.services import bulk_operation_run, bulk_operations_resume, task_create

from .factories import AIModelFactory, TaskTypeFactory

LIST_URL = reverse("admin:execution_executiontask_changelist")
SWITCH_URL = reverse("admin:execution_executioncontrol_changelist")
Status = ExecutionTask.Status


@pytest.fixture
def echo_type(db):
    return TaskTypeFactory(slug="echo_work", executor="echo", max_attempts=1, timeout_seconds=30)


def tasks_in(status, count, *, task_type, ai_model, created_by=None) -> list[int]:
    tasks = ExecutionTask.objects.bulk_create(
        ExecutionTask(task_type=task_type, ai_model=ai_model, status=status, payload={"n": n}, created_by=created_by)
        for n in range(count)
    )
    return [task.pk for task in tasks]


def action_post(client, action, *, query="", selected=(), select_across=False):
    data = {"action": action, "index": 0, "_selected_action": [str(pk) for pk in selected]}
    if select_across:
        data["select_across"] = "1"
    return client.post(f"{LIST_URL}?{query}", data)


@pytest.mark.django_db
def test_retry_failed_applies_to_every_task_matching_the_filters_not_just_the_page(
    client, operator, echo_type, ai_model, django_capture_on_commit_callbacks, redis_test_db
):
    failed = tasks_in(Status.FAILED, 120, task_type=echo_type, ai_model=ai_model)  # more than the 50 shown
    other_type = TaskTypeFactory(slug="other_work", executor="echo")
    untouched = tasks_in(Status.FAILED, 5, task_type=other_type, ai_model=ai_model)
    succeeded = tasks_in(Status.SUCCEEDED, 5, task_type=echo_type, ai_model=ai_model)
    client.force_login(operator)
    query = f"status__exact=failed&task_type__id__exact={echo_type.pk}"

    with django_capture_on_commit_callbacks(execute=True):
        response = action_post(client, "retry_failed", query=query, selected=failed[:50], select_across=True)

    assert response.status_code == 302
    operation = BulkOperation.objects.get()
    assert (operation.status, operation.total, operation.changed, operation.skipped) == ("done", 120, 120, 0)
    assert operation.created_by == operator and "status__exact=failed" in operation.criteria
    assert ExecutionTask.objects.filter(pk__in=failed, status=Status.QUEUED).count() == 120
    assert ExecutionTask.objects.filter(pk__in=untouched, status=Status.FAILED).count() == 5
    assert ExecutionTask.objects.filter(pk__in=succeeded, status=Status.SUCCEEDED).count() == 5
    assert ExecutionEvent.objects.filter(kind="retried", task_id__in=failed, actor=operator).count() == 120
    assert redis_test_db.llen("rq:queue:default") == 120  # pushed together after commit


@pytest.mark.django_db
def test_ticked_rows_only_when_not_selecting_across(client, operator, echo_type, ai_model):
    pending = tasks_in(Status.PENDING, 10, task_type=echo_type, ai_model=ai_model)
    client.force_login(operator)
    action_post(client, "cancel_selected", selected=pending[:3])
    assert ExecutionTask.objects.filter(status=Status.CANCELLED).count() == 3
    assert BulkOperation.objects.get().criteria.startswith("rows ticked")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_large_bulk_action_runs_as_a_job_whose_progress_the_admin_shows(
    client, operator, echo_type, run_workers, settings
):
    settings.EXECUTION_BULK_INLINE_MAX = 10
    ai_model = AIModelFactory(name="echo-model")
    failed = tasks_in(Status.FAILED, 40, task_type=echo_type, ai_model=ai_model)
    client.force_login(operator)

    response = action_post(client, "retry_failed", query="status__exact=failed", selected=failed, select_across=True)

    operation = BulkOperation.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "admin:execution_bulkoperation_change", args=[operation.pk]
    )
    assert operation.status == "queued" and operation.processed == 0  # the request did not do the work
    page = client.get(response.url).content.decode()
    assert 'http-equiv="refresh"' in page and 'value="0"' in page and "0 / 40" in page

    run_workers(EXECUTION_BULK_CHUNK="15")  # the bulk job, then the 40 task jobs it queued

    operation.refresh_from_db()
    assert (operation.status, operation.processed, operation.changed) == ("done", 40, 40)
    assert ExecutionTask.objects.filter(pk__in=failed, status=Status.SUCCEEDED).count() == 40
    page = client.get(response.url).content.decode()
    assert 'http-equiv="refresh"' not in page and "40 / 40 (100%)" in page


@pytest.mark.django_db
def test_bulk_operation_page_shows_partial_progress(client, operator):
    operation = BulkOperation.objects.create(
        action="cancel", status="running", task_ids=list(range(1, 401)), total=400, processed=100
    )
    client.force_login(operator)
    page = client.get(reverse("admin:execution_bulkoperation_change", args=[operation.pk])).content.decode()
    assert 'max="400" value="100"' in page and "100 / 400 (25%)" in page


@pytest.mark.django_db
def test_bulk_approve_is_for_reviewers_and_skips_their_own_tasks(
    client, operator, reviewer, echo_type, ai_model, django_capture_on_commit_callbacks
):
    echo_type.requires_review = True
    echo_type.save()
    by_operator = tasks_in(Status.NEEDS_REVIEW, 3, task_type=echo_type, ai_model=ai_model, created_by=operator)
    by_reviewer = tasks_in(Status.NEEDS_REVIEW, 1, task_type=echo_type, ai_model=ai_model, created_by=reviewer)

    client.force_login(operator)
    assert "approve_selected" not in dict(client.get(LIST_URL).context["action_form"].fields["action"].choices)
    action_post(client, "approve_selected", selected=by_operator)
    assert ExecutionTask.objects.filter(status=Status.NEEDS_REVIEW).count() == 4  # not an operator's action

    client.force_login(reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        action_post(client, "approve_selected", selected=by_operator + by_reviewer)

    assert ExecutionTask.objects.filter(pk__in=by_operator, status=Status.QUEUED).count() == 3
    assert ExecutionTask.objects.get(pk=by_reviewer[0]).status == Status.NEEDS_REVIEW
    operation = BulkOperation.objects.get()
    assert (operation.changed, operation.skipped) == (3, 1)
    assert operation.problems == [f"rita-reviewer created task {by_reviewer[0]} and cannot approve or reject it"]


@pytest.mark.django_db
def test_task_page_action_asks_for_confirmation_then_acts(client, reviewer, operator, ai_model):
    task = task_create(task_type="self_programming", ai_model=ai_model, payload={}, created_by=operator)
    url = reverse("admin:execution_executiontask_reject_task", args=[task.pk])
    client.force_login(reviewer)

    confirm_page = client.get(url)
    assert confirm_page.status_code == 200 and "Reject task #" in confirm_page.content.decode()
    task.refresh_from_db()
    assert task.status == Status.NEEDS_REVIEW  # a GET changes nothing

    response = client.post(url, {"comment": "touches billing code <b>unreviewed</b>"})
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == Status.CANCELLED
    event = task.events.get(kind="rejected")
    assert (event.actor, event.message) == (reviewer, "touches billing code <b>unreviewed</b>")
    page = client.get(reverse("admin:execution_executiontask_change", args=[task.pk])).content.decode()
    assert "&lt;b&gt;unreviewed&lt;/b&gt;" in page and "<b>unreviewed</b>" not in page


@pytest.mark.django_db
def test_task_page_action_refused_says_why(client, operator, ai_model):
    task = task_create(task_type="implement_idea", ai_model=ai_model, payload={}, enqueue=False)
    client.force_login(operator)
    response = client.post(reverse("admin:execution_executiontask_retry_task", args=[task.pk]), follow=True)
    assert f"Task #{task.pk} was not queued again: it is pending." in response.content.decode()


@pytest.mark.django_db
def test_operator_pauses_with_confirmation_and_reason_and_every_admin_page_shows_the_banner(client, operator, reviewer):
    client.force_login(operator)
    refused = client.post(SWITCH_URL, {"reason": "  "})
    page = refused.content.decode()
    assert "Say why: a reason is required" in page and "Tick the box to confirm." in page
    assert not ExecutionControl.objects.filter(paused=True).exists()

    client.post(SWITCH_URL, {"reason": "FSAR <script>alert(1)</script> blind spots", "confirm": "on"})
    control = ExecutionControl.objects.get()
    assert control.paused and control.changed_by == operator
    assert control.history.first().history_change_reason == "FSAR <script>alert(1)</script> blind spots"

    client.force_login(reviewer)  # everyone sees it, on any admin page
    for url in (reverse("admin:index"), LIST_URL, reverse("admin:execution_aimodel_changelist")):
        page = client.get(url).content.decode()
        assert 'id="execution-paused-banner"' in page
        assert "olga-operator" in page and "FSAR &lt;script&gt;alert(1)&lt;/script&gt; blind spots" in page
        assert "<script>alert(1)" not in page

    assert client.get(SWITCH_URL).context["form"] is None  # reviewers see the switch, cannot flip it
    assert client.post(SWITCH_URL, {"reason": "no", "confirm": "on"}).status_code == 403
    assert ExecutionControl.objects.get().paused

    client.force_login(operator)
    client.post(SWITCH_URL, {"reason": "blind spots triaged", "confirm": "on"})
    assert not ExecutionControl.objects.get().paused
    assert 'id="execution-paused-banner"' not in client.get(LIST_URL).content.decode()


@pytest.mark.django_db
def test_queue_page_is_linked_for_operators_and_acts_on_failed_jobs(client, operator, reviewer, redis_test_db):
    queue = Queue("default", connection=redis_test_db)
    job = queue.enqueue("json.loads", "{'price': 1}")  # a job that really fails, run by a real worker
    SimpleWorker([queue], connection=redis_test_db).work(burst=True)
    assert job.id in FailedJobRegistry(queue=queue).get_job_ids()
    client.force_login(operator)
    changelist = client.get(LIST_URL).content.decode()
    link = reverse("admin:execution_executiontask_queue_statistics")
    assert link in changelist
    page = client.get(link)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="queues"' in html and job.id in html and "json.decoder.JSONDecodeError: Expecting property name" in html
    assert "No worker is running" in html
    response = client.post(link, {"job_id": job.id, "action": "requeue"}, follow=True)
    assert f"Job {job.id} put back on its queue." in response.content.decode()
    assert job.id in queue.get_job_ids() and not FailedJobRegistry(queue=queue).get_job_ids()
    refused = client.post(link, {"job_id": "task-1-1", "action": "delete"}, follow=True).content.decode()
    assert "is a task&#x27;s job" in refused
    client.force_login(reviewer)
    assert link not in client.get(LIST_URL).content.decode()
    assert client.get(link).status_code == 403
    assert client.get(reverse("django_rq:home")).status_code == 403


@pytest.mark.django_db
def test_bulk_operation_whose_job_was_lost_resumes_where_it_stopped(
    operator, echo_type, ai_model, settings, redis_test_db, django_capture_on_commit_callbacks
):
    settings.EXECUTION_BULK_CHUNK = 4
    pending = tasks_in(Status.PENDING, 10, task_type=echo_type, ai_model=ai_model)
    ExecutionTask.objects.filter(pk__in=pending[:4]).update(status=Status.CANCELLED)  # the chunk done before
    operation = BulkOperation.objects.create(
        action="cancel", status="running", task_ids=pending, total=10, processed=4, changed=4,
        created_by=operator, rq_job_id="bulk-lost",
    )  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):  # django-rq enqueues when the transaction commits
        assert bulk_operations_resume() == 1  # its job is not in Redis: pushed again
    assert redis_test_db.lrange("rq:queue:default", 0, -1) == [b"bulk-lost"]
    assert bulk_operations_resume() == 0  # now it is

    bulk_operation_run(operation_id=operation.pk)
    operation.refresh_from_db()
    assert (operation.status, operation.processed, operation.changed, operation.skipped) == ("done", 10, 10, 0)
    assert ExecutionTask.objects.filter(status=Status.CANCELLED).count() == 10
    assert ExecutionEvent.objects.filter(kind="cancelled").count() == 6  # the first chunk was not redone
