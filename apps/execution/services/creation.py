"""Creating tasks: every entry point (admin, API, importers, reports) creates tasks here, then queues them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import AIModel, ExecutionTask, TaskType
from .queueing import tasks_queue
from .risk import RiskAssessment, tasks_risk_assess
from .transitions import acting_user, task_created_record
from .validation import payload_check, task_validate


@transaction.atomic
def task_create(
    *,
    task_type: TaskType | str | None,
    ai_model: AIModel | str | None,
    payload: Any = None,
    priority: Any = 0,
    created_by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> ExecutionTask:
    """Create a task, scored for risk, and its `created` event together and queue it (its job goes to Redis on
    commit); a task whose type needs review or whose score reaches RISK_REVIEW_THRESHOLD starts as
    `needs_review` and waits for a reviewer instead."""
    resolved_task_type, resolved_ai_model, checked_payload, checked_priority = task_validate(
        task_type=task_type, ai_model=ai_model, payload=payload, priority=priority
    )
    [risk] = tasks_risk_assess(task_type=resolved_task_type, ai_model=resolved_ai_model, payloads=[checked_payload])
    status = _initial_status(resolved_task_type, risk)
    task = ExecutionTask.objects.create(
        task_type=resolved_task_type,
        ai_model=resolved_ai_model,
        payload=checked_payload,
        priority=checked_priority,
        status=status,
        created_by=acting_user(created_by),
        **_risk_fields(risk),
    )
    task_created_record([task], actor=task.created_by)
    if enqueue and status == ExecutionTask.Status.PENDING:
        tasks_queue(task_ids=[task.pk], from_status=status, actor=task.created_by)
        task.refresh_from_db()
    return task


@transaction.atomic
def tasks_create_many(
    *,
    task_type: TaskType | str | None,
    ai_model: AIModel | str | None,
    payloads: list[Any],
    priority: Any = 0,
    created_by: AbstractBaseUser | None = None,
) -> list[int]:
    """Create many tasks of one type on one model with their `created` events in one transaction, then queue
    the ones that need no review together (one Redis round trip on commit). All or nothing: one bad payload
    refuses the batch."""
    resolved_task_type, resolved_ai_model, _, checked_priority = task_validate(
        task_type=task_type, ai_model=ai_model, payload={}, priority=priority
    )
    errors: dict[str, str] = {}
    checked = [payload_check(payload, errors) for payload in payloads]
    if errors:
        raise ValidationError({"payloads": f"every payload must be a JSON object: {errors['payload']}"})
    risks = tasks_risk_assess(task_type=resolved_task_type, ai_model=resolved_ai_model, payloads=checked)
    creator = acting_user(created_by)
    tasks = ExecutionTask.objects.bulk_create(
        ExecutionTask(
            task_type=resolved_task_type, ai_model=resolved_ai_model, payload=payload, priority=checked_priority,
            status=_initial_status(resolved_task_type, risk), created_by=creator, **_risk_fields(risk),
        )
        for payload, risk in zip(checked, risks, strict=True)
    )  # fmt: skip
    task_created_record(tasks, actor=creator)
    pending = [task.pk for task in tasks if task.status == ExecutionTask.Status.PENDING]
    if pending:
        tasks_queue(task_ids=pending, from_status=ExecutionTask.Status.PENDING, actor=creator)
    return [task.pk for task in tasks]


def _initial_status(task_type: TaskType, risk: RiskAssessment) -> str:
    if task_type.needs_review or risk.needs_review:
        return ExecutionTask.Status.NEEDS_REVIEW
    return ExecutionTask.Status.PENDING


def _risk_fields(risk: RiskAssessment) -> dict:
    return {"risk_score": risk.score, "risk_level": risk.level, "risk_breakdown": risk.breakdown,
            "money_at_stake": risk.money_at_stake}  # fmt: skip
