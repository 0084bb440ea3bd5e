"""Concerns: anyone reports one; it raises risk; a critical one holds its task type (other work runs) until a
reviewer resolves it, with a note the reporter sees."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.auditlog.models import AuditLog
from apps.execution.models import ExecutionTask
from apps.execution.services import task_create
from apps.safety.models import Concern
from apps.safety.services import concern_report, concern_resolve
from tests.conftest import token_client
from tests.execution.factories import TaskTypeFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_critical_concern_holds_its_task_type_until_resolved(ai_model, operator, reviewer, run_workers, client):
    held_type = TaskTypeFactory(slug="held_work", executor="echo")
    free_type = TaskTypeFactory(slug="free_work", executor="echo")
    concern = concern_report(reporter=operator, task_type=held_type, category="safety", severity="critical",
                             text="it deletes customer files")  # fmt: skip
    held = task_create(task_type=held_type, ai_model=ai_model, created_by=operator)
    free = task_create(task_type=free_type, ai_model=ai_model, created_by=operator)
    assert held.status == "queued"  # the open concern adds points, but not enough for review on its own
    assert [line["rule"] for line in held.risk_breakdown] == ["open_concern"]
    run_workers()
    held.refresh_from_db()
    free.refresh_from_db()
    assert (held.status, free.status) == ("queued", "succeeded")

    client.force_login(operator)
    banner = client.get(reverse("admin:index")).content.decode()
    assert 'id="execution-held-banner"' in banner and "task type held_work" in banner
    assert reverse("admin:safety_concern_change", args=[concern.pk]) in banner

    with pytest.raises(ValidationError, match="reporter reads this note"):
        concern_resolve(concern=concern, reviewer=reviewer, note="")
    concern_resolve(concern=concern, reviewer=reviewer, note="the delete is scoped to a sandbox; fine")
    run_workers()
    held.refresh_from_db()
    assert held.status == "succeeded"
    assert list(AuditLog.objects.filter(object_type="safety.concern", object_id=str(concern.pk))
                .order_by("id").values_list("action", flat=True)) == ["concern.reported", "concern.resolved"]

    mine = token_client(operator).get(f"/api/concerns/{concern.pk}/").json()
    assert (mine["status"], mine["resolution_note"]) == ("resolved", "the delete is scoped to a sandbox; fine")


def test_the_api_takes_concerns_and_says_what_is_wrong(ai_model, operator, offer_builder):
    api = token_client(offer_builder)
    missing = api.post("/api/concerns/", {"category": "ethics", "severity": "high", "text": "?"}, format="json")
    assert missing.status_code == 400 and "exactly one" in missing.json()["target"][0]
    both = api.post("/api/concerns/", {"ai_model": ai_model.name, "task_type": "implement_idea", "category": "ethics",
                                       "severity": "high", "text": "?"}, format="json")  # fmt: skip
    assert both.status_code == 400
    unknown = api.post("/api/concerns/", {"ai_model": "nope", "category": "ethics", "severity": "loud",
                                          "text": "x"}, format="json")  # fmt: skip
    assert unknown.status_code == 400 and set(unknown.json()) == {"ai_model", "severity"}
    assert Concern.objects.count() == 0

    made = api.post("/api/concerns/", {"ai_model": ai_model.name, "category": "quality", "severity": "high",
                                       "text": "hallucinates package names"}, format="json")  # fmt: skip
    assert made.status_code == 201, made.json()
    assert made.json()["reported_by"] == "otto-offers" and made.json()["status"] == "open"
    task = task_create(task_type="implement_idea", ai_model=ai_model, created_by=operator)
    assert "1 open concern on this task, its type or model" in [line["why"] for line in task.risk_breakdown]
    assert [row["text"] for row in token_client(operator).get("/api/concerns/").json()["results"]] == [
        "hallucinates package names"]


def test_anyone_signed_in_reports_from_the_admin(ai_model, operator, client):
    task = task_create(task_type="implement_idea", ai_model=ai_model, created_by=operator)
    client.force_login(operator)
    add = reverse("admin:safety_concern_add")
    assert client.get(add, {"task": task.pk}).status_code == 200
    refused = client.post(add, {"category": "quality", "severity": "low", "text": "?"})
    assert "exactly one of task" in refused.content.decode()
    made = client.post(add, {"task": task.pk, "category": "quality", "severity": "low", "text": "wrong language"})
    assert made.status_code == 302
    assert Concern.objects.get().task == task
    assert ExecutionTask.objects.get(pk=task.pk).status == "queued"
