"""The pause switch. While paused no task starts: queued tasks wait, running ones finish."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.auditlog.services import audit_record

from ..models import ExecutionControl, ScopedHold
from .queueing import jobs_push
from .selectors import queued_tasks_without_live_job
from .transitions import acting_user


@dataclass(frozen=True)
class Hold:
    """Why execution must stay paused, and the object holding it (by its admin URL name) for a link to it."""

    reason: str
    admin_url_name: str = ""  # e.g. "admin:proposals_proposal_change"
    object_id: int | str | None = None
    view_permission: str = ""  # who may follow the link, e.g. "proposals.view_proposal"

    def __str__(self) -> str:
        return self.reason


HoldCheck = Callable[[], list[Hold]]
_hold_checks: list[HoldCheck] = []


def execution_hold_register(check: HoldCheck) -> None:
    """Let a feature keep execution paused: `check()` returns why it must stay paused ([] when it need not)."""
    if check not in _hold_checks:
        _hold_checks.append(check)


def execution_holds() -> list[Hold]:
    return [reason for check in _hold_checks for reason in check()]


def execution_control() -> ExecutionControl:
    return ExecutionControl.objects.get_or_create(pk=ExecutionControl.SINGLETON_ID)[0]


def _switch(*, paused: bool, actor, reason: str, pulled_by: str = "") -> ExecutionControl:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why: a reason is required to pause or resume execution."})
    with transaction.atomic():
        control = ExecutionControl.objects.select_for_update().get_or_create(pk=ExecutionControl.SINGLETON_ID)[0]
        control.paused, control.reason, control.changed_at = paused, reason, timezone.now()
        control.pulled_by = pulled_by if paused else ""
        control.changed_by = acting_user(actor)
        control._change_reason = reason  # recorded in the switch's history
        control.save()
        audit_record(
            action="execution.paused" if paused else "execution.resumed", actor=actor, target=control,
            summary=reason, details={"pulled_by": control.pulled_by}, actor_label=pulled_by if actor is None else "",
        )  # fmt: skip
    return control


def execution_pause(*, actor, reason: str, pulled_by: str = "") -> ExecutionControl:
    """Stop starting tasks: from the admin, or pulled by a feature (`pulled_by`: blocking proposals, audits).
    A feature's pull leaves an existing pause, and who made it, as it is."""
    if pulled_by:
        with transaction.atomic():
            control = ExecutionControl.objects.select_for_update().get_or_create(pk=ExecutionControl.SINGLETON_ID)[0]
            if control.paused:
                return control
            return _switch(paused=True, actor=actor, reason=reason, pulled_by=pulled_by)
    return _switch(paused=True, actor=actor, reason=reason)


def execution_resume(*, actor, reason: str) -> ExecutionControl:
    """Start tasks again, unless a feature still holds execution; queued tasks whose jobs ran while paused are
    pushed again after commit."""
    holds = execution_holds()
    if holds:
        raise ValidationError({"reason": f"Execution cannot resume yet: {'; '.join(map(str, holds))}."})
    control = _switch(paused=False, actor=actor, reason=reason)
    transaction.on_commit(lambda: jobs_push(task_ids=queued_tasks_without_live_job(older_than=timedelta(0))))
    return control


def execution_release(*, pulled_by: str, actor, reason: str) -> bool:
    """Resume when `pulled_by` paused execution and nothing holds it any more; a person's pause stays."""
    with transaction.atomic():
        control = ExecutionControl.objects.select_for_update().get_or_create(pk=ExecutionControl.SINGLETON_ID)[0]
        if not (control.paused and control.pulled_by == pulled_by) or execution_holds():
            return False
        execution_resume(actor=actor, reason=reason)
    return True


def scoped_holds() -> list[ScopedHold]:
    return list(ScopedHold.objects.select_related("task_type").order_by("created_at"))


@transaction.atomic
def scoped_hold_place(*, source: str, reason: str, task_type=None, ai_model=None, admin_url_name: str = "",
                      object_id="", view_permission: str = "") -> ScopedHold:  # fmt: skip
    """Stop tasks of `task_type` or `ai_model` from starting until `source` lifts the hold (other work runs)."""
    if task_type is None and ai_model is None:
        raise ValidationError("A scoped hold needs a task type or an AI model to hold.")
    hold, _ = ScopedHold.objects.update_or_create(source=source, defaults={
        "task_type": task_type, "ai_model": ai_model, "reason": reason, "admin_url_name": admin_url_name,
        "object_id": str(object_id), "view_permission": view_permission,
    })  # fmt: skip
    return hold


@transaction.atomic
def scoped_hold_lift(*, source: str) -> bool:
    """End `source`'s hold; queued tasks whose jobs found it in place are pushed again after commit."""
    deleted, _ = ScopedHold.objects.filter(source=source).delete()
    if deleted:
        transaction.on_commit(lambda: jobs_push(task_ids=queued_tasks_without_live_job(older_than=timedelta(0))))
    return bool(deleted)
