"""The task pages as an operator and a reviewer read them: buttons that fit the task's state, readable
failures, the lifecycle on the history page, counts by status and the live endpoints."""

import pytest
from django.urls import reverse

from apps.execution.models import ExecutionEvent, ExecutionTask
from apps.execution.services import task_create

pytestmark = pytest.mark.django_db
LIST_URL = reverse("admin:execution_executiontask_changelist")
TRACEBACK = """Traceback (most recent call last):
  File "/srv/apps/execution/executors.py", line 77, in run_openai_compatible
    completion = client.chat.completions.create(model=task.ai_model_id, messages=messages)
openai.APITimeoutError: Request timed out. <script>alert(1)</script>
"""


def page(client, name, *args, **query):
    response = client.get(reverse(f"admin:execution_executiontask_{name}", args=args), query)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def failed_task(ai_model, operator):
    task = task_create(task_type="implement_idea", ai_model=ai_model, payload={"prompt": "x"}, created_by=operator)
    ExecutionTask.objects.filter(pk=task.pk).update(status="failed", attempts=1, error=TRACEBACK, duration_ms=6900)
    ExecutionEvent.objects.create(task=task, kind="failed", ai_model=ai_model.name, error=TRACEBACK,
                                  message="failed after 1 attempt(s)")  # fmt: skip
    return task


@pytest.mark.parametrize(("status", "offered", "not_offered"), [
    ("succeeded", [], ["enqueue", "retry", "cancel", "approve", "reject", "priority"]),
    ("failed", ["retry"], ["enqueue", "cancel", "approve", "priority"]),
    ("pending", ["enqueue", "cancel", "priority"], ["retry", "approve"]),
    ("running", ["cancel", "priority"], ["enqueue", "retry"]),
])  # fmt: skip
def test_a_task_page_offers_only_the_actions_its_state_allows(client, operator, ai_model, status, offered,
                                                               not_offered):  # fmt: skip
    task = task_create(task_type="implement_idea", ai_model=ai_model, payload={}, enqueue=False)
    ExecutionTask.objects.filter(pk=task.pk).update(status=status)
    client.force_login(operator)
    html = page(client, "change", task.pk)
    base = f"/admin/execution/executiontask/{task.pk}/"
    for name in offered:
        assert f'href="{base}{name}/"' in html, name
    for name in not_offered:
        assert f'href="{base}{name}/"' not in html, name


def test_a_failed_task_shows_a_one_line_summary_and_its_traceback_folded(client, operator, ai_model):
    task = failed_task(ai_model, operator)
    client.force_login(operator)
    html = page(client, "change", task.pk)
    summary = "openai.APITimeoutError: Request timed out. &lt;script&gt;alert(1)&lt;/script&gt;"
    assert "<summary" in html and summary in html
    assert "<details" in html and "in run_openai_compatible" in html  # the whole traceback, folded
    assert "<script>alert(1)</script>" not in html
    assert "6.9 s" in html  # durations in seconds
    listing = page(client, "changelist")
    assert "openai.APITimeoutError: Request timed out." in listing and "in run_openai_compatible" not in listing


def test_retry_says_what_happened(client, operator, ai_model):
    task = failed_task(ai_model, operator)
    client.force_login(operator)
    confirm = page(client, "retry_task", task.pk)
    assert f"Retry task #{task.pk}?" in confirm and "Run this failed task again?" in confirm
    response = client.post(reverse("admin:execution_executiontask_retry_task", args=[task.pk]), follow=True)
    assert f"Task #{task.pk} queued again (attempt 2 of 3)." in response.content.decode()


def test_the_history_page_shows_the_whole_lifecycle_with_who_and_why(client, operator, reviewer, ai_model):
    task = task_create(task_type="self_programming", ai_model=ai_model, payload={}, created_by=operator)
    client.force_login(reviewer)
    client.post(reverse("admin:execution_executiontask_reject_task", args=[task.pk]), {"comment": "too risky"})
    html = page(client, "history", task.pk)
    lifecycle = html[html.index('id="lifecycle"'):]
    assert lifecycle.index("Created") < lifecycle.index("Rejected")
    assert "olga-operator" in lifecycle and "rita-reviewer" in lifecycle and "too risky" in lifecycle
    assert "Revert" not in html
    assert 'href="/admin/auth/user/' not in html  # people as text: that page is a 403 to a reviewer


def test_the_list_counts_tasks_by_status_for_its_filters(client, operator, ai_model):
    for _ in range(3):
        task_create(task_type="implement_idea", ai_model=ai_model, payload={}, enqueue=False)
    failed_task(ai_model, operator)
    client.force_login(operator)
    html = page(client, "changelist")
    counts = html[html.index('id="task-status-counts"'):]
    assert 'data-status="pending"' in counts
    assert "Pending <strong" in counts and ">3</strong>" in counts and ">1</strong>" in counts
    assert 'data-live="1"' in counts  # pending tasks: the list keeps itself up to date


def test_live_endpoints_report_statuses_and_counts(client, operator, reviewer, offer_builder, ai_model):
    waiting = task_create(task_type="implement_idea", ai_model=ai_model, payload={}, enqueue=False)
    done = failed_task(ai_model, operator)
    client.force_login(reviewer)
    one = client.get(reverse("admin:execution_executiontask_live_task", args=[waiting.pk])).json()
    assert (one["status"], one["live"], one["events"]) == ("pending", True, 1)
    many = client.get(reverse("admin:execution_executiontask_live"),
                      {"ids": f"{waiting.pk},{done.pk}", "filters": "status__exact=failed"}).json()  # fmt: skip
    assert many["statuses"] == {str(waiting.pk): "pending", str(done.pk): "failed"}
    assert many["counts"]["failed"] == 1 and many["counts"]["pending"] == 0  # counted under the list's filters
    assert many["live"] is True
    bad = client.get(reverse("admin:execution_executiontask_live"), {"ids": "1,x"})
    assert bad.status_code == 400 and "ids must be task ids" in bad.json()["error"]
    client.force_login(offer_builder)
    assert client.get(reverse("admin:execution_executiontask_live"), {"ids": "1"}).status_code == 403


def test_the_events_list_is_newest_first_and_links_to_each_task(client, operator, ai_model):
    first = task_create(task_type="implement_idea", ai_model=ai_model, payload={}, enqueue=False)
    second = task_create(task_type="implement_idea", ai_model=ai_model, payload={}, enqueue=False)
    client.force_login(operator)
    html = client.get(reverse("admin:execution_executionevent_changelist")).content.decode()
    links = [reverse("admin:execution_executiontask_change", args=[task.pk]) for task in (second, first)]
    assert html.index(f'href="{links[0]}"') < html.index(f'href="{links[1]}"')
