"""Scheduled audits with hard gates. A `SafetyAudit` names a registered check, a cron schedule and a gate; each
run stores pass or fail with figures and evidence. A failed run of a `pause` audit pauses execution (pulled by
the audit) and holds it until a reviewer acknowledges that run.

Checks read the database. Probes are adversarial: each tries to break one safety rule through the real code,
inside a transaction that is always rolled back, and passes only when the system refuses."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import django_rq
from croniter import croniter
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.test import RequestFactory
from django.urls import resolve, reverse
from django.utils import timezone
from djstripe.models import WebhookEventTrigger
from rq.job import Job

from apps.auditlog.models import AuditLog
from apps.auditlog.services import audit_chain_break, audit_record
from apps.core.roles import REVIEWERS
from apps.execution.models import AIModel, ExecutionEvent, ExecutionTask, TaskType
from apps.execution.services import Hold, execution_pause, execution_release, task_approve, task_create
from apps.execution.services.review import REVIEW_PERMISSION
from apps.execution.services.rqjobs import RUN_JOB
from apps.execution.services.transitions import acting_user
from apps.income.models import IncomeEvent

from .models import AuditRun, SafetyAudit

logger = logging.getLogger(__name__)
EVIDENCE_MAX = 20
RUN_AUDIT_JOB = "apps.safety.jobs.run_audit"


@dataclass
class CheckResult:
    passed: bool
    figures: dict = field(default_factory=dict)
    evidence: list = field(default_factory=list)


Check = Callable[[SafetyAudit], CheckResult]


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# Checks


def _since_last_seen(audit: SafetyAudit):
    """When the latest run a reviewer has seen began (passed, or failed and acknowledged): a check that looks at
    history reports each finding once, not again every hour after it was acknowledged."""
    seen = audit.runs.filter(Q(passed=True) | Q(acknowledged_at__isnull=False)).order_by("-id")
    return seen.values_list("started_at", flat=True).first()


def check_self_programming_approved(audit: SafetyAudit) -> CheckResult:
    """No task of an audited type (self_programming) started, since the last run a reviewer saw, without an
    approval by someone other than its creator."""
    since = _since_last_seen(audit)
    rows = _rows(
        f"""SELECT t.id FROM execution_tasks t JOIN {TaskType._meta.db_table} tt ON tt.id = t.task_type_id
            WHERE tt.audit_trail
              AND EXISTS (SELECT FROM execution_events e WHERE e.task_id = t.id AND e.kind = 'started'
                          AND e.created_at >= coalesce(%s, '-infinity'::timestamptz))
              AND NOT EXISTS (SELECT FROM execution_events a WHERE a.task_id = t.id AND a.kind = 'approved'
                              AND a.actor_id IS NOT NULL AND a.actor_id IS DISTINCT FROM t.created_by_id)
            ORDER BY t.id""",  # noqa: S608
        [since],
    )
    ids = [row[0] for row in rows]
    return CheckResult(not ids, {"unapproved_runs": len(ids), "since": since or "the beginning"},
                       [{"task": pk, "why": "started without another person's approval"} for pk in ids[:EVIDENCE_MAX]])


def check_running_past_timeout(audit: SafetyAudit) -> CheckResult:
    """No task is `running` past its type's timeout plus EXECUTION_GRACE_SECONDS (a lost worker the sweep missed)."""
    rows = _rows(
        f"""SELECT t.id, extract(epoch FROM now() - t.started_at)::int FROM execution_tasks t
            JOIN {TaskType._meta.db_table} tt ON tt.id = t.task_type_id
            WHERE t.status = 'running' AND t.started_at < now() - make_interval(secs => tt.timeout_seconds + %s)
            ORDER BY t.started_at""",  # noqa: S608
        [settings.EXECUTION_GRACE_SECONDS],
    )
    return CheckResult(not rows, {"overdue": len(rows)},
                       [{"task": pk, "running_seconds": seconds} for pk, seconds in rows[:EVIDENCE_MAX]])


def check_model_failure_rate(audit: SafetyAudit) -> CheckResult:
    """Each AI model's failure rate over the last 24 hours (models with at least 10 finished runs) stays below
    the audit's bound (percent; 50 when empty)."""
    bound = audit.bound if audit.bound is not None else Decimal(50)
    rows = _rows(
        """SELECT ai_model, count(*), count(*) FILTER (WHERE status = 'failed') FROM execution_tasks
           WHERE status IN ('succeeded', 'failed') AND finished_at >= now() - interval '24 hours'
           GROUP BY ai_model HAVING count(*) >= 10 ORDER BY ai_model""",
        [],
    )
    rates = {model: round(Decimal(failed * 100) / runs, 1) for model, runs, failed in rows}
    over = [{"ai_model": model, "failure_percent": rate} for model, rate in rates.items() if rate >= bound]
    return CheckResult(not over, {"bound_percent": bound, "models": rates}, over[:EVIDENCE_MAX])


def check_income_explained(audit: SafetyAudit) -> CheckResult:
    """Every income event is attributed to a model and task type, or says why not."""
    rows = list(IncomeEvent.objects.filter(ai_model__isnull=True, task_type__isnull=True, unattributed_reason="")
                .values_list("pk", "stripe_event_id")[: EVIDENCE_MAX + 1])  # fmt: skip
    return CheckResult(not rows, {"unexplained": len(rows) if len(rows) <= EVIDENCE_MAX else f">{EVIDENCE_MAX}"},
                       [{"income_event": pk, "stripe_event": event} for pk, event in rows[:EVIDENCE_MAX]])


def check_audit_chain(audit: SafetyAudit) -> CheckResult:
    """The audit log's hash chain is intact (`manage.py audit_verify` does the same), and still holds the last
    row the previous passing run saw (rows removed from the end leave no broken link behind them)."""
    broken = audit_chain_break()
    tail = AuditLog.objects.order_by("-chain_position").values("chain_position", "hash").first() or {}
    figures = {"rows": AuditLog.objects.count(), "last_position": tail.get("chain_position", 0),
               "last_hash": tail.get("hash", "")}  # fmt: skip
    if broken is not None:
        evidence = [{"audit_row": broken.id, "why": str(broken)}]
        return CheckResult(False, {**figures, "first_broken": broken.id}, evidence)
    previous = audit.runs.filter(passed=True).order_by("-id").values_list("figures", flat=True).first() or {}
    if previous.get("last_position") and not AuditLog.objects.filter(
        chain_position=previous["last_position"], hash=previous.get("last_hash", "")
    ).exists():
        why = f"the row at chain position {previous['last_position']}, seen by the last passing run, is gone"
        return CheckResult(False, figures, [{"why": why}])
    return CheckResult(True, figures)


# Probes


class _RolledBack(Exception):
    pass


def _probe(attempt: Callable[[], CheckResult]) -> CheckResult:
    """Run `attempt` in a transaction that is rolled back whatever happens: a probe leaves nothing behind."""
    outcome: list[CheckResult] = []
    try:
        with transaction.atomic():
            outcome.append(attempt())
            raise _RolledBack
    except _RolledBack:
        pass
    return outcome[0]


def _probe_setup(*, requires_review: bool = True):
    """A throwaway reviewer, task type and AI model (all rolled back with the probe)."""
    suffix = uuid.uuid4().hex[:10]
    user = get_user_model().objects.create_user(username=f"probe-{suffix}", is_staff=True)
    user.groups.add(Group.objects.get(name=REVIEWERS))
    user = get_user_model().objects.get(pk=user.pk)  # permissions are cached per instance
    task_type = TaskType.objects.create(slug=f"probe-{suffix}", executor=TaskType.Executor.ECHO,
                                        requires_review=requires_review, risk_rated_at=timezone.now())  # fmt: skip
    ai_model = AIModel.objects.create(name=f"probe-{suffix}", provider=AIModel.Provider.OPENAI_COMPATIBLE)
    return user, task_type, ai_model


def probe_self_approval(audit: SafetyAudit) -> CheckResult:
    """A reviewer tries to approve a task they created, through the review service."""

    def attempt():
        user, task_type, ai_model = _probe_setup()
        task = task_create(task_type=task_type, ai_model=ai_model, payload={"prompt": "probe"}, created_by=user)
        try:
            task_approve(task=task, reviewer=user, comment="probe: approving my own task")
        except PermissionDenied as refusal:
            return CheckResult(True, {"refused": str(refusal)})
        return CheckResult(False, {"refused": False},
                           [{"why": "a reviewer approved their own task", "status": task.status}])

    return _probe(attempt)


def probe_direct_job_push(audit: SafetyAudit) -> CheckResult:
    """A task awaiting review is started by running its RQ job directly, as a worker would run a pushed job."""

    def attempt():
        user, task_type, ai_model = _probe_setup()
        task = task_create(task_type=task_type, ai_model=ai_model, payload={"prompt": "probe"}, created_by=user)
        job = Job.create(RUN_JOB, args=[task.pk], connection=django_rq.get_connection("default"))
        answer = job.perform()
        task.refresh_from_db()
        started = ExecutionEvent.objects.filter(task=task, kind=ExecutionEvent.Kind.STARTED).exists()
        if task.status == ExecutionTask.Status.NEEDS_REVIEW and not started:
            return CheckResult(True, {"job_answer": answer, "status": task.status})
        return CheckResult(False, {"job_answer": answer, "status": task.status},
                           [{"why": "a task awaiting review started from its job", "status": task.status}])

    return _probe(attempt)


def probe_forged_webhook(audit: SafetyAudit) -> CheckResult:
    """A Stripe event with a forged signature is posted to the real webhook view (in process)."""

    def attempt():
        event_id = f"evt_probe_{uuid.uuid4().hex[:16]}"
        body = json.dumps({"id": event_id, "object": "event", "type": "payment_intent.succeeded",
                           "livemode": settings.STRIPE_LIVE_MODE, "created": int(time.time()),
                           "data": {"object": {"id": "pi_probe", "object": "payment_intent", "amount": 100,
                                               "currency": "usd", "metadata": {}}}})  # fmt: skip
        url = reverse("stripe-webhook")
        request = RequestFactory().post(url, data=body, content_type="application/json",
                                        HTTP_STRIPE_SIGNATURE=f"t={int(time.time())},v1={'0' * 64}")  # fmt: skip
        response = resolve(url).func(request)
        stored = IncomeEvent.objects.filter(stripe_event_id=event_id).exists()
        accepted = WebhookEventTrigger.objects.filter(body__contains=event_id).exists()
        if response.status_code >= 400 and not stored and not accepted:
            return CheckResult(True, {"status_code": response.status_code})
        return CheckResult(False, {"status_code": response.status_code},
                           [{"why": "a webhook with a forged signature was accepted"}])

    return _probe(attempt)


def probe_audit_update(audit: SafetyAudit) -> CheckResult:
    """An UPDATE and a DELETE of an audit row through the application's own database connection."""

    def attempt():
        if not AuditLog.objects.exists():
            audit_record(action="probe", object_type="safety.safetyaudit", summary="probe row")
        results = {}
        for verb, sql in (("update", "UPDATE audit_log SET summary = 'tampered' WHERE id = (SELECT max(id) FROM "
                                     "audit_log)"),
                          ("delete", "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)")):  # fmt: skip
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(sql)
                results[verb] = f"allowed ({cursor.rowcount} row)"
            except DatabaseError as refusal:
                results[verb] = f"refused: {str(refusal).splitlines()[0]}"
        passed = all(value.startswith("refused") for value in results.values())
        return CheckResult(passed, results, [] if passed else [{"why": "the audit log accepted a change", **results}])

    return _probe(attempt)


CHECKS: dict[str, tuple[str, Check]] = {
    "self_programming_approved": ("No self-programming task ran without another person's approval",
                                  check_self_programming_approved),
    "running_past_timeout": ("No task running past its timeout plus grace", check_running_past_timeout),
    "model_failure_rate": ("Failure rate per AI model below the bound", check_model_failure_rate),
    "income_explained": ("Every income event attributed or explained", check_income_explained),
    "audit_chain": ("The audit chain is intact", check_audit_chain),
    "probe_self_approval": ("Probe: approve one's own task through the service", probe_self_approval),
    "probe_direct_job_push": ("Probe: start a task awaiting review by running its job", probe_direct_job_push),
    "probe_forged_webhook": ("Probe: a webhook with a forged signature", probe_forged_webhook),
    "probe_audit_update": ("Probe: UPDATE or DELETE an audit row", probe_audit_update),
}  # fmt: skip
CHECK_CHOICES = [(name, label) for name, (label, _check) in CHECKS.items()]


def audit_validate(audit: SafetyAudit) -> None:
    """A known check and a cron expression that parses, or a ValidationError naming each field."""
    problems = {}
    if audit.check_name not in CHECKS:
        problems["check_name"] = f"Unknown check {audit.check_name!r}; one of {', '.join(CHECKS)}."
    if not croniter.is_valid(audit.schedule or ""):
        problems["schedule"] = f"{audit.schedule!r} is not a cron expression (e.g. '*/30 * * * *')."
    if problems:
        raise ValidationError(problems)


def _pulled_by(audit: SafetyAudit) -> str:
    return f"audit:{audit.name}"[:64]


def audit_run(*, audit: SafetyAudit, actor=None) -> AuditRun:
    """Run one audit now: store the outcome with its audit row; a failed `pause` audit pauses execution."""
    run = AuditRun.objects.create(audit=audit, gate=audit.gate, triggered_by=acting_user(actor))
    try:
        result = CHECKS[audit.check_name][1](audit)
        error = ""
    except Exception as failure:  # a check that cannot run has not passed
        logger.exception("audit %s could not run", audit.name)
        result, error = CheckResult(False), f"{type(failure).__name__}: {failure}"
    with transaction.atomic():
        run.passed, run.figures, run.evidence, run.error = result.passed, result.figures, result.evidence, error
        run.finished_at = timezone.now()
        run.save()
        verdict = "passed" if result.passed else "failed"
        audit_record(action="audit.run", actor=actor, target=audit, actor_label="" if actor else "scheduler",
                     summary=f"{verdict}" + (f": {error}" if error else ""),
                     details={"run": run.pk, "passed": result.passed, "figures": result.figures})  # fmt: skip
        if not result.passed and run.gate == SafetyAudit.Gate.PAUSE:
            execution_pause(actor=None, pulled_by=_pulled_by(audit),
                            reason=f"audit '{audit.name}' failed (run #{run.pk}); a reviewer must acknowledge it")
    return run


def audit_run_by_id(*, audit_id: int, actor_id: int | None = None) -> str:
    """The job's entry: ids in (the scheduler's runs have no actor)."""
    audit = SafetyAudit.objects.get(pk=audit_id)
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    run = audit_run(audit=audit, actor=actor)
    return f"run #{run.pk}: {'passed' if run.passed else 'failed'}"


def audit_run_request(*, audit: SafetyAudit, actor) -> None:
    """"Run now": the run goes to a worker; its row appears when it starts."""
    django_rq.get_queue("default").enqueue(RUN_AUDIT_JOB, audit.pk, actor.pk if actor else None, job_timeout=600)


def audit_run_acknowledge(*, run: AuditRun, reviewer, note: str) -> AuditRun:
    """A reviewer has looked at a failed run: it no longer holds execution (resumed if this audit paused it and
    nothing else holds it)."""
    if not reviewer.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied(f"{reviewer} is not a reviewer (Reviewers group)")
    if not (note or "").strip():
        raise ValidationError({"acknowledgement": "Say what was found and done about it."})
    with transaction.atomic():
        locked = AuditRun.objects.select_for_update().select_related("audit").get(pk=run.pk)
        if locked.passed is not False:
            raise ValidationError(f"Run #{locked.pk} did not fail: nothing to acknowledge.")
        if locked.acknowledged_at is not None:
            raise ValidationError(f"Run #{locked.pk} was already acknowledged.")
        locked.acknowledged_by, locked.acknowledged_at, locked.acknowledgement = reviewer, timezone.now(), note.strip()
        locked.save(update_fields=["acknowledged_by", "acknowledged_at", "acknowledgement"])
        audit_record(action="audit.acknowledged", actor=reviewer, target=locked.audit, summary=locked.acknowledgement,
                     details={"run": locked.pk})  # fmt: skip
        execution_release(pulled_by=_pulled_by(locked.audit), actor=reviewer,
                          reason=f"audit '{locked.audit.name}' run #{locked.pk} acknowledged")  # fmt: skip
    return locked


def audit_holds() -> list[Hold]:
    """For the execution switch: failed runs of `pause` audits that no reviewer has acknowledged."""
    runs = (AuditRun.objects.filter(passed=False, acknowledged_at__isnull=True, gate=SafetyAudit.Gate.PAUSE)
            .select_related("audit").order_by("pk")[:5])  # the gate as it was when it ran  # fmt: skip
    return [Hold(f"audit '{run.audit.name}' failed (run #{run.pk}) and awaits a reviewer's acknowledgement",
                 "admin:safety_auditrun_change", run.pk, view_permission="safety.view_auditrun") for run in runs]


def audits_due_run(now=None) -> list[str]:
    """The scheduler's minute tick: queue each enabled audit whose cron time came since it was last queued."""
    now = now or timezone.now()
    queued = []
    for audit in SafetyAudit.objects.filter(enabled=True):
        if not croniter.is_valid(audit.schedule):
            continue
        due_at = croniter(audit.schedule, now + timedelta(seconds=1)).get_prev(type(now))
        if audit.last_scheduled_at is not None and audit.last_scheduled_at >= due_at:
            continue
        updated = SafetyAudit.objects.filter(pk=audit.pk, last_scheduled_at=audit.last_scheduled_at).update(
            last_scheduled_at=now
        )
        if updated:
            django_rq.get_queue("default").enqueue(RUN_AUDIT_JOB, audit.pk, None, job_timeout=600)
            queued.append(audit.name)
    return queued
