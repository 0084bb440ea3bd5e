"""Safety writes: task-type ratings, risk rule changes, re-scoring waiting tasks, concerns. Each writes its audit
row in its own transaction; anything that changes what a waiting task's score depends on starts a re-scoring."""

from __future__ import annotations

import logging

import django_rq
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.forms.models import model_to_dict
from django.utils import timezone

from apps.auditlog.services import audit_record
from apps.execution.models import ExecutionEvent, ExecutionTask, TaskType
from apps.execution.services import scoped_hold_lift, scoped_hold_place, tasks_transition
from apps.execution.services.review import REVIEW_PERMISSION

from .audits import audit_validate
from .models import Concern, RiskRescore, RiskRule
from .scoring import RiskContext

logger = logging.getLogger(__name__)
Status = ExecutionTask.Status
WAITING = (Status.PENDING, Status.QUEUED, Status.NEEDS_REVIEW)  # tasks a re-scoring looks at
RESCORE_JOB = "apps.safety.jobs.rescore_waiting_tasks"
RULE_FIELDS = ("points", "threshold", "window", "enabled")


def _reviewer_check(actor) -> None:
    if actor is None or not actor.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied(f"{actor} is not a reviewer (Reviewers group)")


@transaction.atomic
def task_type_rate(*, task_type: TaskType, level: str, reviewer, note: str = "") -> TaskType:
    """A reviewer's risk rating of a task type ("ethical risk scoring for new task types"): until a type is
    rated its tasks score high; waiting tasks are re-scored."""
    _reviewer_check(reviewer)
    if level not in TaskType.RiskLevel.values:
        raise ValidationError({"level": f"Rate low, medium or high, not {level!r}."})
    before = task_type.risk_level if task_type.is_rated else "unrated"
    task_type.risk_level, task_type.risk_rated_at, task_type.risk_rated_by = level, timezone.now(), reviewer
    task_type._change_reason = f"rated {level}" + (f": {note}" if note else "")
    task_type.save(update_fields=["risk_level", "risk_rated_at", "risk_rated_by"])
    audit_record(action="task_type.rated", actor=reviewer, target=task_type,
                 summary=f"{before} -> {level}. {note}".strip(), details={"from": before, "to": level})  # fmt: skip
    risk_rescore_start(reason=f"task type {task_type.slug} rated {level}", actor=reviewer)
    return task_type


@transaction.atomic
def risk_rule_save(*, rule: RiskRule, actor) -> RiskRule:
    """Save a rule reviewers edited; the change is audited and waiting tasks are re-scored."""
    _reviewer_check(actor)
    rule.full_clean()
    before = RiskRule.objects.filter(pk=rule.pk).values(*RULE_FIELDS).first() if rule.pk else None
    rule.save()
    after = model_to_dict(rule, fields=RULE_FIELDS)
    changed = {name: [before[name] if before else None, after[name]] for name in RULE_FIELDS
               if before is None or before[name] != after[name]}  # fmt: skip
    if changed:
        audit_record(action="risk_rule.changed", actor=actor, target=rule,
                     summary=", ".join(f"{name} {old} -> {new}" for name, (old, new) in changed.items()),
                     details={"changed": changed})  # fmt: skip
        risk_rescore_start(reason=f"rule '{rule}' changed", actor=actor)
    return rule


def risk_rescore_start(*, reason: str, actor=None) -> RiskRescore:
    """Re-score every waiting task in the background; the row shows progress and how many changed level."""
    rescore = RiskRescore.objects.create(
        reason=reason[:200], created_by=actor if actor is not None and actor.is_authenticated else None,
        total=ExecutionTask.objects.filter(status__in=WAITING).count(),
    )  # fmt: skip
    transaction.on_commit(lambda: _rescore_job_push(rescore.pk))
    return rescore


def _rescore_job_push(rescore_id: int) -> None:
    try:
        django_rq.get_queue("default").enqueue(RESCORE_JOB, rescore_id, job_id=f"risk-rescore-{rescore_id}",
                                               job_timeout=3600)  # fmt: skip
    except Exception as error:  # Redis away: say so on the row; "Re-score now" starts another
        logger.warning("re-scoring %s not started: %s", rescore_id, error)
        RiskRescore.objects.filter(pk=rescore_id).update(
            status=RiskRescore.Status.FAILED, error=f"could not start: {error}", finished_at=timezone.now()
        )


def risk_rescore_run(*, rescore_id: int) -> str:
    """Work through the waiting tasks in id order, a chunk per transaction with its progress (a run started
    again carries on where it stopped; "Re-score now" starts a new one). A pending or queued task that now
    reaches the review threshold goes to review."""
    started = RiskRescore.objects.filter(
        pk=rescore_id, status__in=(RiskRescore.Status.QUEUED, RiskRescore.Status.RUNNING)
    ).update(status=RiskRescore.Status.RUNNING)
    if not started:
        return "nothing to do"
    context = RiskContext()
    try:
        while True:
            with transaction.atomic():
                rescore = RiskRescore.objects.select_for_update().get(pk=rescore_id)
                tasks = list(
                    ExecutionTask.objects.filter(status__in=WAITING, pk__gt=rescore.last_task_id)
                    .select_related("task_type", "ai_model").order_by("pk")[: settings.SAFETY_RESCORE_CHUNK]
                )  # fmt: skip
                if not tasks:
                    rescore.status, rescore.finished_at = RiskRescore.Status.DONE, timezone.now()
                    rescore.total = max(rescore.total, rescore.processed)
                    rescore.save(update_fields=["status", "finished_at", "total"])
                    return f"{rescore.level_changed} changed level, {rescore.sent_to_review} sent to review"
                changed, to_review = _rescore_chunk(tasks, context)
                RiskRescore.objects.filter(pk=rescore_id).update(
                    processed=F("processed") + len(tasks), level_changed=F("level_changed") + changed,
                    sent_to_review=F("sent_to_review") + to_review, last_task_id=tasks[-1].pk,
                )  # fmt: skip
    except Exception as error:
        RiskRescore.objects.filter(pk=rescore_id).update(
            status=RiskRescore.Status.FAILED, finished_at=timezone.now(), error=f"{type(error).__name__}: {error}"
        )
        raise


def _rescore_chunk(tasks: list[ExecutionTask], context: RiskContext) -> tuple[int, int]:
    """Store each task's new score; a waiting task that now reaches the threshold goes to review, unless a
    reviewer already approved it (a person's decision stands). Returns (level changes, sent to review)."""
    changed, review_ids = 0, []
    for task in tasks:
        risk = context.assess(task)
        if risk.level != task.risk_level:
            changed += 1
        if (risk.score, risk.level, risk.breakdown, risk.money_at_stake) != (
            task.risk_score, task.risk_level, task.risk_breakdown, task.money_at_stake
        ):
            ExecutionTask.objects.filter(pk=task.pk).update(
                risk_score=risk.score, risk_level=risk.level, risk_breakdown=risk.breakdown,
                money_at_stake=risk.money_at_stake,
            )  # fmt: skip
        if risk.needs_review and task.status in (Status.PENDING, Status.QUEUED):
            review_ids.append(task.pk)
    approved = set(ExecutionEvent.objects.filter(task_id__in=review_ids, kind=ExecutionEvent.Kind.APPROVED)
                   .values_list("task_id", flat=True))  # fmt: skip
    review_ids = [pk for pk in review_ids if pk not in approved]
    moved = tasks_transition(
        review_ids, to=Status.NEEDS_REVIEW, event=ExecutionEvent.Kind.SENT_TO_REVIEW, sources=[Status.PENDING,
        Status.QUEUED], message="risk re-scored at or above the review threshold",
    ) if review_ids else []  # fmt: skip
    return changed, len(moved)


# Concerns


def concern_report(*, reporter, category: str, severity: str, text: str, task=None, task_type=None, ai_model=None,
                   offer=None) -> Concern:  # fmt: skip
    """Anyone signed in may report a concern on one task, task type, AI model or offer. It raises the risk of
    the work it touches; a critical one on a task type or model holds new tasks of it until resolved."""
    concern = Concern(
        reported_by=reporter if reporter is not None and reporter.is_authenticated else None, category=category,
        severity=severity, text=(text or "").strip(), task=task, task_type=task_type, ai_model=ai_model, offer=offer,
    )  # fmt: skip
    targets = [name for name in Concern.TARGETS if getattr(concern, f"{name}_id")]
    if len(targets) != 1:
        raise ValidationError({"__all__": "Say what the concern is about: exactly one task, task type, AI model "
                                          "or offer."})  # fmt: skip
    concern.full_clean()
    with transaction.atomic():
        concern.save()
        audit_record(action="concern.reported", actor=reporter, target=concern,
                     summary=f"{severity} {category} concern on {concern.target_label}",
                     details={"target": targets[0], "severity": severity, "category": category})  # fmt: skip
        if severity == Concern.Severity.CRITICAL and (task_type is not None or ai_model is not None):
            scoped_hold_place(
                source=_hold_source(concern), task_type=task_type, ai_model=ai_model,
                reason=f"critical concern #{concern.pk} on {concern.target_label} awaits a reviewer",
                admin_url_name="admin:safety_concern_change", object_id=concern.pk,
                view_permission="safety.view_concern",
            )  # fmt: skip
        risk_rescore_start(reason=f"concern #{concern.pk} reported", actor=reporter)
    return concern


def concern_resolve(*, concern: Concern, reviewer, note: str) -> Concern:
    """A reviewer's decision on a concern, with a note the reporter sees; lifts its hold."""
    _reviewer_check(reviewer)
    if not (note or "").strip():
        raise ValidationError({"resolution_note": "Say what was decided: the reporter reads this note."})
    with transaction.atomic():
        locked = Concern.objects.select_for_update().get(pk=concern.pk)
        if locked.status != Concern.Status.OPEN:
            raise ValidationError(f"Concern #{locked.pk} is already {locked.status}.")
        locked.status, locked.resolved_by, locked.resolved_at = Concern.Status.RESOLVED, reviewer, timezone.now()
        locked.resolution_note = note.strip()
        locked._change_reason = "resolved"
        locked.save()
        audit_record(action="concern.resolved", actor=reviewer, target=locked, summary=locked.resolution_note,
                     details={"severity": locked.severity})  # fmt: skip
        scoped_hold_lift(source=_hold_source(locked))
        risk_rescore_start(reason=f"concern #{locked.pk} resolved", actor=reviewer)
    return locked


def _hold_source(concern: Concern) -> str:
    return f"concern:{concern.pk}"


@transaction.atomic
def safety_audit_save(*, audit, actor, changed: dict, created: bool) -> None:
    """Save a scheduled audit a reviewer added or edited (its check, schedule or gate), with its audit row."""
    audit_validate(audit)
    audit.save()
    if created or changed:
        audit_record(action="safety_audit.created" if created else "safety_audit.changed", actor=actor, target=audit,
                     summary=", ".join(f"{name}: {value}" for name, value in changed.items()),
                     details={"changed": {name: str(value) for name, value in changed.items()}})  # fmt: skip
