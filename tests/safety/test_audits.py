"""Scheduled audits with hard gates, and the adversarial probes: each passes on the real code and fails when
the safety rule it attacks is switched off."""

from datetime import timedelta

import pytest
import stripe
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from apps.execution.models import ExecutionTask
from apps.execution.services import execution_control, execution_holds, execution_resume, task_create, transitions
from apps.execution.services import review as review_service
from apps.safety.audits import audit_run, audit_run_acknowledge, audits_due_run
from apps.safety.models import AuditRun, SafetyAudit

pytestmark = pytest.mark.django_db


def audit(check: str, gate: str = "pause") -> SafetyAudit:
    found = SafetyAudit.objects.get(check_name=check)
    found.gate = gate
    found.save()
    return found


def test_a_failing_pause_audit_holds_execution_until_a_reviewer_acknowledges_it(ai_model, operator, reviewer):
    stuck = task_create(task_type="implement_idea", ai_model=ai_model, created_by=operator)
    ExecutionTask.objects.filter(pk=stuck.pk).update(status="running", started_at=timezone.now() - timedelta(hours=3))
    run = audit_run(audit=audit("running_past_timeout", gate="pause"))
    assert run.passed is False and run.figures == {"overdue": 1} and run.evidence[0]["task"] == stuck.pk
    control = execution_control()
    assert control.paused and control.pulled_by == "audit:No task running past its timeout"
    assert [hold.reason for hold in execution_holds()] == [
        f"audit 'No task running past its timeout' failed (run #{run.pk}) and awaits a reviewer's acknowledgement"
    ]
    with pytest.raises(ValidationError, match="cannot resume yet"):
        execution_resume(actor=operator, reason="we need throughput")
    with pytest.raises(ValidationError, match="Say what was found"):
        audit_run_acknowledge(run=run, reviewer=reviewer, note="")
    audit_run_acknowledge(run=run, reviewer=reviewer, note="worker 3 was lost; task requeued by hand")
    assert not execution_control().paused
    assert execution_holds() == []


def test_a_failing_warn_audit_only_records(ai_model, operator):
    stuck = task_create(task_type="implement_idea", ai_model=ai_model, created_by=operator)
    ExecutionTask.objects.filter(pk=stuck.pk).update(status="running", started_at=timezone.now() - timedelta(hours=3))
    run = audit_run(audit=audit("running_past_timeout", gate="warn"))
    assert run.passed is False and not execution_control().paused


def test_checks_pass_on_a_clean_console():
    for name in ("self_programming_approved", "running_past_timeout", "model_failure_rate", "income_explained",
                 "audit_chain"):  # fmt: skip
        run = audit_run(audit=audit(name))
        assert run.passed, (name, run.figures, run.evidence, run.error)


def test_a_self_programming_task_that_ran_unapproved_fails_its_audit(ai_model, operator):
    task = task_create(task_type="self_programming", ai_model=ai_model, created_by=operator)
    ExecutionTask.objects.filter(pk=task.pk).update(status="succeeded")  # as a bypass of the gate would leave it
    task.events.create(kind="started", ai_model=ai_model.name)
    run = audit_run(audit=audit("self_programming_approved", gate="warn"))
    assert run.passed is False and run.evidence == [{"task": task.pk, "why": "started without another person's "
                                                                             "approval"}]  # fmt: skip


PROBES = ["probe_self_approval", "probe_direct_job_push", "probe_forged_webhook", "probe_audit_update"]


@pytest.mark.parametrize("probe", PROBES)
def test_each_probe_passes_on_the_real_code_and_leaves_nothing(probe, settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_probe"
    tasks_before = ExecutionTask.objects.count()
    run = audit_run(audit=audit(probe, gate="warn"))
    assert run.passed, (run.figures, run.evidence, run.error)
    assert ExecutionTask.objects.count() == tasks_before  # rolled back


def _switch_off(probe, monkeypatch):
    if probe == "probe_self_approval":
        monkeypatch.setattr(review_service, "_reviewer_check", lambda **kwargs: None)
    elif probe == "probe_direct_job_push":
        monkeypatch.setattr(transitions, "_CLAIM_SQL", transitions._CLAIM_SQL.replace(
            "AND status = 'queued'", "AND status IN ('queued', 'needs_review')"))  # fmt: skip
    elif probe == "probe_forged_webhook":
        monkeypatch.setattr(stripe.WebhookSignature, "verify_header", staticmethod(lambda *args, **kwargs: True))
    elif probe == "probe_audit_update":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")


@pytest.mark.parametrize("probe", PROBES)
def test_each_probe_fails_when_its_safety_rule_is_switched_off(probe, settings, monkeypatch):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_probe"
    _switch_off(probe, monkeypatch)
    run = audit_run(audit=audit(probe, gate="pause"))
    assert run.passed is False and run.evidence, run.figures
    assert execution_control().paused


def test_the_scheduler_queues_each_audit_once_per_cron_time(redis_test_db, django_capture_on_commit_callbacks):
    SafetyAudit.objects.exclude(name="Audit chain intact").update(enabled=False)
    at = timezone.now().replace(minute=31, second=0, microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        assert audits_due_run(now=at) == ["Audit chain intact"]  # never run: due
        assert audits_due_run(now=at + timedelta(minutes=5)) == []  # "30 * * * *" not again within the hour
        assert audits_due_run(now=at + timedelta(hours=1)) == ["Audit chain intact"]
    assert redis_test_db.llen("rq:queue:default") == 2
    assert AuditRun.objects.count() == 0  # workers run them


def test_an_acknowledged_finding_is_not_reported_again(ai_model, operator, reviewer):
    task = task_create(task_type="self_programming", ai_model=ai_model, created_by=operator)
    task.events.create(kind="started", ai_model=ai_model.name)
    first = audit_run(audit=audit("self_programming_approved", gate="pause"))
    assert first.passed is False
    audit_run_acknowledge(run=first, reviewer=reviewer, note="it was the migration test; rolled back")
    assert audit_run(audit=audit("self_programming_approved", gate="pause")).passed
    assert not execution_control().paused


def test_changing_a_failed_audits_gate_does_not_release_its_hold(ai_model, operator):
    stuck = task_create(task_type="implement_idea", ai_model=ai_model, created_by=operator)
    ExecutionTask.objects.filter(pk=stuck.pk).update(status="running", started_at=timezone.now() - timedelta(hours=3))
    run = audit_run(audit=audit("running_past_timeout", gate="pause"))
    audit("running_past_timeout", gate="warn")
    assert [hold.object_id for hold in execution_holds()] == [run.pk]


def test_rows_removed_from_the_end_of_the_chain_fail_the_next_run(ai_model, operator):
    for _ in range(3):
        task_create(task_type="self_programming", ai_model=ai_model, created_by=operator)
    assert audit_run(audit=audit("audit_chain", gate="warn")).passed
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        cursor.execute("DELETE FROM audit_log WHERE chain_position > (SELECT max(chain_position) - 2 FROM audit_log)")
        cursor.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    run = audit_run(audit=audit("audit_chain", gate="warn"))
    assert run.passed is False and "is gone" in run.evidence[0]["why"]
