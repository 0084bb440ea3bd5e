"""The review queue: risk x money first, then age; four eyes; bulk approval only for low and medium risk."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.auditlog.models import AuditLog
from apps.execution.models import ExecutionTask
from apps.execution.services import task_approve, task_create, task_reject
from apps.safety.selectors import review_queue
from tests.execution.factories import UserFactory

pytestmark = pytest.mark.django_db
QUEUE_URL = reverse("admin:safety_reviewqueuetask_changelist")


def waiting_task(ai_model, creator, *, risk: int, money: str, waited_hours: float, level: str = "high"):
    task = task_create(task_type="self_programming", ai_model=ai_model, payload={"prompt": "change me"},
                       created_by=creator)  # fmt: skip
    ExecutionTask.objects.filter(pk=task.pk).update(
        risk_score=risk, risk_level=level, money_at_stake=money,
        created_at=timezone.now() - timedelta(hours=waited_hours),
    )  # fmt: skip
    return task


def test_the_queue_orders_by_risk_times_money_then_by_age(ai_model, operator, reviewer, client):
    cheap_risky = waiting_task(ai_model, operator, risk=90, money="0", waited_hours=1)  # 90 x 1
    costly = waiting_task(ai_model, operator, risk=50, money="400", waited_hours=2)  # 50 x 400 = 20,000
    cheap_risky_older = waiting_task(ai_model, operator, risk=90, money="0.50", waited_hours=30)  # 90 x 1, older
    expected = [costly.pk, cheap_risky_older.pk, cheap_risky.pk]
    assert list(review_queue().values_list("pk", flat=True)) == expected

    client.force_login(reviewer)
    page = client.get(QUEUE_URL)
    assert page.status_code == 200
    html = page.content.decode()
    positions = [html.index(f'>#{pk}</a>') for pk in expected]
    assert positions == sorted(positions)
    assert html.count("review-old") == 1  # only the one waiting over REVIEW_QUEUE_OLD_AFTER_HOURS (24 h)


def test_nobody_approves_their_own_task(ai_model, reviewer, client):
    own = waiting_task(ai_model, reviewer, risk=60, money="0", waited_hours=1)
    with pytest.raises(PermissionDenied, match="created task"):
        task_approve(task=own, reviewer=reviewer)
    client.force_login(reviewer)
    client.post(QUEUE_URL, {"action": "approve_selected", "_selected_action": [own.pk]})
    own.refresh_from_db()
    assert own.status == "needs_review"
    assert not AuditLog.objects.filter(action="task.approved").exists()


def test_bulk_approval_passes_only_low_and_medium_risk(ai_model, operator, reviewer, client):
    low = waiting_task(ai_model, operator, risk=10, money="0", waited_hours=1, level="low")
    medium = waiting_task(ai_model, operator, risk=30, money="0", waited_hours=1, level="medium")
    high = waiting_task(ai_model, operator, risk=60, money="0", waited_hours=1, level="high")
    client.force_login(reviewer)
    answer = client.post(QUEUE_URL, {"action": "approve_selected", "_selected_action": [low.pk, medium.pk, high.pk]},
                         follow=True)  # fmt: skip
    assert f"Not approved: #{high.pk}" in answer.content.decode()
    statuses = dict(ExecutionTask.objects.filter(pk__in=[low.pk, medium.pk, high.pk]).values_list("pk", "status"))
    assert statuses == {low.pk: "queued", medium.pk: "queued", high.pk: "needs_review"}
    with pytest.raises(PermissionDenied, match="approve it on its own"):
        task_approve(task=high, reviewer=reviewer, bulk=True)
    task_approve(task=high, reviewer=reviewer, comment="read the diff")  # on its own: allowed
    decision = AuditLog.objects.get(action="task.approved", object_id=str(high.pk))
    assert (decision.actor, decision.summary, decision.details["bulk"]) == (reviewer, "read the diff", False)


def test_rejection_needs_a_reason_and_claiming_assigns(ai_model, operator, reviewer, client):
    task = waiting_task(ai_model, operator, risk=60, money="0", waited_hours=1)
    with pytest.raises(ValidationError, match="reason is required"):
        task_reject(task=task, reviewer=reviewer, comment="  ")
    client.force_login(reviewer)
    client.post(QUEUE_URL, {"action": "claim_selected", "_selected_action": [task.pk]})
    task.refresh_from_db()
    assert task.review_assignee == reviewer
    mine = client.get(QUEUE_URL, {"assignee": "me"}).content.decode()
    assert f">#{task.pk}</a>" in mine

    page = client.post(QUEUE_URL, {"action": "reject_selected", "_selected_action": [task.pk]})
    assert "Reject 1 task(s)?" in page.content.decode()  # the reason form, nothing rejected yet
    client.post(QUEUE_URL, {"action": "reject_selected", "_selected_action": [task.pk], "confirm": "1",
                            "reason": "touches billing code"})  # fmt: skip
    task.refresh_from_db()
    assert (task.status, task.review_assignee) == ("cancelled", None)
    assert AuditLog.objects.get(action="task.rejected").summary == "touches billing code"


def test_reviewers_see_the_queue_length_in_the_navigation(ai_model, operator, reviewer, client):
    waiting_task(ai_model, operator, risk=60, money="0", waited_hours=1)
    waiting_task(ai_model, operator, risk=60, money="0", waited_hours=1)
    client.force_login(reviewer)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="badge-safety-reviewqueuetask"' in html and ">2</span>" in html
    client.force_login(operator)
    assert "badge-safety-reviewqueuetask" not in client.get(reverse("admin:index")).content.decode()
    other = UserFactory(username="someone", is_staff=True)
    client.force_login(other)
    assert client.get(QUEUE_URL).status_code == 403
