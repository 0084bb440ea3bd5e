"""A report that says `block_execution: true`, posted over the API, stops real workers until a reviewer has
looked at it."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.execution.models import ExecutionTask
from apps.execution.services import task_create
from tests.execution.factories import TaskTypeFactory

from .reports import report

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_blocking_report_holds_queued_tasks_until_a_reviewer_acknowledges(
    client, operator, reviewer, ai_model, run_workers
):
    echo_type = TaskTypeFactory(slug="echo_work", executor="echo", timeout_seconds=30)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator).key}")
    posted = api.post("/api/proposals/", report(block_execution="true", severity="9").encode(),
                      content_type="text/plain")  # fmt: skip
    assert posted.status_code == 201
    task = task_create(task_type=echo_type, ai_model=ai_model, payload={"n": 1})
    assert task.status == ExecutionTask.Status.QUEUED

    run_workers()
    task.refresh_from_db()
    assert task.status == ExecutionTask.Status.QUEUED  # the worker ran its job, which did not start the task
    assert not task.events.filter(kind="started").exists()

    client.force_login(reviewer)
    acknowledge = reverse("admin:proposals_proposal_acknowledge", args=[posted.json()["id"]])
    client.post(acknowledge, {"comment": "read it; not a real risk"})
    run_workers()
    task.refresh_from_db()
    assert task.status == ExecutionTask.Status.SUCCEEDED
