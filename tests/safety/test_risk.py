"""Risk scoring: explainable rules kept as data, the review gate at the threshold, re-scoring on changes."""

import pytest
from django.utils import timezone

from apps.auditlog.models import AuditLog
from apps.execution.models import ExecutionTask, TaskType
from apps.execution.services import task_approve, task_create
from apps.safety.models import RiskRescore, RiskRule
from apps.safety.services import risk_rescore_run, risk_rule_save, task_type_rate
from tests.execution.factories import AIModelFactory

pytestmark = pytest.mark.django_db


def why(task) -> list[str]:
    return [f"+{line['points']} {line['why']}" for line in task.risk_breakdown]


def test_a_new_unrated_task_type_waits_for_review_until_a_reviewer_rates_it(ai_model, operator, reviewer,
                                                                          django_capture_on_commit_callbacks):
    new_type = TaskType.objects.create(slug="summarise_incidents", executor="echo")  # as an admin would add it
    first = task_create(task_type=new_type, ai_model=ai_model, payload={"prompt": "summarise"}, created_by=operator)
    assert first.status == "needs_review"
    assert (first.risk_score, first.risk_level) == (50, "high")
    assert why(first) == ["+50 task type summarise_incidents has never been rated by a reviewer"]

    with django_capture_on_commit_callbacks(execute=False):
        task_type_rate(task_type=new_type, level="low", reviewer=reviewer, note="read-only summaries")
    assert AuditLog.objects.filter(action="task_type.rated", object_id=str(new_type.pk), actor=reviewer).exists()

    second = task_create(task_type=new_type, ai_model=ai_model, payload={"prompt": "summarise"}, created_by=operator)
    assert second.status == "queued"
    assert (second.risk_score, second.risk_level, second.risk_breakdown) == (0, "low", [])
    first.refresh_from_db()
    assert first.status == "needs_review"  # rating does not approve what already waits: a reviewer decides


def test_an_unstable_model_and_a_dangerous_payload_add_their_points_with_reasons(operator):
    shaky = AIModelFactory(name="shaky-model")
    task_type = TaskType.objects.get(slug="implement_idea")  # rated medium by the migration
    for n in range(20):
        ExecutionTask.objects.create(task_type=task_type, ai_model=shaky, status="failed" if n < 7 else "succeeded",
                                     attempts=2 if n < 10 else 1, finished_at=timezone.now())  # fmt: skip
    task = task_create(task_type=task_type, ai_model=shaky, created_by=operator,
                       payload={"prompt": "clean up", "command": "sudo rm -rf /var/cache/app"})  # fmt: skip
    assert why(task) == [
        "+25 payload holds a shell command: 'sudo'",
        "+20 model shaky-model failed 35% of its last 20 runs",
        "+15 task type implement_idea is rated medium risk",
        "+10 model shaky-model needed a retry in 50% of its last 20 runs",
    ]
    assert (task.risk_score, task.risk_level, task.status) == (70, "high", "needs_review")


def test_changing_a_rule_rescores_waiting_tasks_and_says_how_many_changed_level(
    ai_model, operator, reviewer, django_capture_on_commit_callbacks
):
    implement = TaskType.objects.get(slug="implement_idea")
    quiet = task_create(task_type=implement, ai_model=ai_model, payload={"prompt": "add a button"}, created_by=operator)
    sql = task_create(task_type=implement, ai_model=ai_model, payload={"prompt": "DELETE FROM users"},
                      created_by=operator)  # fmt: skip
    assert (quiet.risk_level, quiet.status, sql.risk_level, sql.status) == ("low", "queued", "medium", "queued")

    rule = RiskRule.objects.get(kind="payload_sql")
    rule.points = 40
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        risk_rule_save(rule=rule, actor=reviewer)
    assert len(callbacks) == 1  # the re-scoring job, pushed after commit
    rescore = RiskRescore.objects.get()
    assert rescore.total == 2 and rescore.status == "queued"
    assert risk_rescore_run(rescore_id=rescore.pk) == "1 changed level, 1 sent to review"

    rescore.refresh_from_db()
    assert (rescore.status, rescore.processed, rescore.level_changed, rescore.sent_to_review) == ("done", 2, 1, 1)
    sql.refresh_from_db()
    quiet.refresh_from_db()
    assert (sql.risk_score, sql.risk_level, sql.status) == (55, "high", "needs_review")
    assert sql.events.filter(kind="sent_to_review").exists()
    assert (quiet.risk_level, quiet.status) == ("low", "queued")
    change = AuditLog.objects.get(action="risk_rule.changed")
    assert (change.actor, change.summary) == (reviewer, "points 20 -> 40")


def test_only_reviewers_change_rules(operator):
    rule = RiskRule.objects.get(kind="payload_sql")
    rule.points = 0
    with pytest.raises(Exception, match="not a reviewer"):
        risk_rule_save(rule=rule, actor=operator)
    assert RiskRule.objects.get(kind="payload_sql").points == 20


def test_rescoring_leaves_a_reviewers_approval_standing(ai_model, operator, reviewer,
                                                        django_capture_on_commit_callbacks):
    task = task_create(task_type="self_programming", ai_model=ai_model, created_by=operator)
    with django_capture_on_commit_callbacks(execute=False):
        task_approve(task=task, reviewer=reviewer)
        rule = RiskRule.objects.get(kind="payload_sql")
        rule.points = 30
        risk_rule_save(rule=rule, actor=reviewer)
    risk_rescore_run(rescore_id=RiskRescore.objects.get().pk)
    task.refresh_from_db()
    assert task.status == "queued"  # scores 50 (rated high) but a reviewer approved it: it stays approved


def test_code_in_a_multi_line_string_is_seen(ai_model, operator):
    task = task_create(task_type="implement_idea", ai_model=ai_model, created_by=operator,
                       payload={"prompt": "apply this", "notes": "context\nimport os\nos.remove(path)"})  # fmt: skip
    assert "+10 payload holds code: 'import os'" in why(task)
