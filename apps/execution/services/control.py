"""The pause switch. While paused no task starts: queued tasks wait, running ones finish."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import ExecutionControl


def execution_control() -> ExecutionControl:
    return ExecutionControl.objects.get_or_create(pk=ExecutionControl.SINGLETON_ID)[0]


def execution_paused() -> bool:
    return ExecutionControl.objects.filter(pk=ExecutionControl.SINGLETON_ID, paused=True).exists()


def _switch(*, paused: bool, actor, reason: str) -> ExecutionControl:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why: a reason is required to pause or resume execution."})
    with transaction.atomic():
        control = ExecutionControl.objects.select_for_update().get_or_create(pk=ExecutionControl.SINGLETON_ID)[0]
        control.paused, control.reason, control.changed_at = paused, reason, timezone.now()
        control.changed_by = actor if actor is not None and actor.is_authenticated else None
        control._change_reason = reason  # recorded in the switch's history
        control.save()
    return control


def execution_pause(*, actor, reason: str) -> ExecutionControl:
    """Stop starting tasks (from the admin, or pulled by blocking proposals and failed audits)."""
    return _switch(paused=True, actor=actor, reason=reason)


def execution_resume(*, actor, reason: str) -> ExecutionControl:
    """Start tasks again; queued tasks whose jobs ran while paused are pushed again after commit."""
    from .queueing import jobs_push, queued_tasks_without_live_job

    control = _switch(paused=False, actor=actor, reason=reason)
    transaction.on_commit(lambda: jobs_push(task_ids=queued_tasks_without_live_job(older_than=timedelta(0))))
    return control
