"""Creating tasks: every entry point (admin, API, importers, reports) creates tasks here, then queues them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import AIModel, ExecutionTask, TaskType
from .queueing import tasks_queue
from .risk import RiskAssessment, tasks_risk_assess
from .rollouts import ModelAssignment, models_assign
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
    assignment_key: str | None = None,
) -> ExecutionTask:
    """Create a task, scored for risk, and its `created` event together and queue it (its job goes to Redis on
    commit); a task whose type needs review or whose score reaches RISK_REVIEW_THRESHOLD starts as
    `needs_review` and waits for a reviewer instead. A rollout on the type may run it on another model than the
    one asked for (by `assignment_key`, else the task id): the task says which and why."""
    resolved_task_type, resolved_ai_model, checked_payload, checked_priority = task_validate(
        task_type=task_type, ai_model=_default_model(task_type, ai_model), payload=payload, priority=priority
    )
    [assignment], ids = models_assign(task_type=resolved_task_type, requested=resolved_ai_model,
                                      keys=[_key_check(assignment_key)])  # fmt: skip
    [risk] = tasks_risk_assess(task_type=resolved_task_type, ai_model=assignment.ai_model, payloads=[checked_payload])
    status = _initial_status(resolved_task_type, risk)
    task = ExecutionTask.objects.create(
        **({"id": ids[0]} if ids and ids[0] else {}),
        task_type=resolved_task_type,
        payload=checked_payload,
        priority=checked_priority,
        status=status,
        created_by=acting_user(created_by),
        **_assignment_fields(resolved_ai_model, assignment),
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
    assignment_keys: list[str | None] | None = None,
) -> list[int]:
    """Create many tasks of one type asking for one model with their `created` events in one transaction, then
    queue the ones that need no review together (one Redis round trip on commit). All or nothing: one bad
    payload refuses the batch. A rollout on the type assigns each task's model as `task_create` does."""
    resolved_task_type, resolved_ai_model, _, checked_priority = task_validate(
        task_type=task_type, ai_model=_default_model(task_type, ai_model), payload={}, priority=priority
    )
    errors: dict[str, str] = {}
    checked = [payload_check(payload, errors) for payload in payloads]
    if errors:
        raise ValidationError({"payloads": f"every payload must be a JSON object: {errors['payload']}"})
    keys = assignment_keys if assignment_keys is not None else [None] * len(checked)
    if len(keys) != len(checked):
        raise ValidationError({"assignment_keys": f"{len(keys)} assignment keys for {len(checked)} payloads."})
    assignments, ids = models_assign(task_type=resolved_task_type, requested=resolved_ai_model,
                                     keys=[_key_check(key) for key in keys])  # fmt: skip
    risks = _risks_by_model(resolved_task_type, assignments, checked)
    creator = acting_user(created_by)
    tasks = ExecutionTask.objects.bulk_create(
        ExecutionTask(
            **({"id": task_id} if task_id else {}), task_type=resolved_task_type, payload=payload,
            priority=checked_priority, status=_initial_status(resolved_task_type, risk), created_by=creator,
            **_assignment_fields(resolved_ai_model, assignment), **_risk_fields(risk),
        )
        for payload, risk, assignment, task_id in zip(checked, risks, assignments, ids or [None] * len(checked),
                                                      strict=True)
    )  # fmt: skip
    task_created_record(tasks, actor=creator)
    pending = [task.pk for task in tasks if task.status == ExecutionTask.Status.PENDING]
    if pending:
        tasks_queue(task_ids=pending, from_status=ExecutionTask.Status.PENDING, actor=creator)
    return [task.pk for task in tasks]


def _default_model(task_type: TaskType | str | None, ai_model: AIModel | str | None) -> AIModel | str | None:
    """A task that names no model gets its type's default model, when the type has one."""
    if ai_model not in (None, "") or task_type in (None, ""):
        return ai_model
    lookup = {"pk": task_type.pk} if isinstance(task_type, TaskType) else {"slug": task_type}
    if not isinstance(task_type, TaskType | str):
        return ai_model
    # Read now, not from the caller's object: a promotion or rollback may have changed it since.
    default = TaskType.objects.filter(**lookup).values_list("default_ai_model", flat=True).first()
    return default or ai_model


def _key_check(key: Any) -> str | None:
    if key in (None, ""):
        return None
    if not isinstance(key, str) or len(key) > 200:
        raise ValidationError({"assignment_key": "assignment_key must be a string of at most 200 characters."})
    return key


def _assignment_fields(requested: AIModel, assignment: ModelAssignment) -> dict:
    return {"ai_model": assignment.ai_model, "requested_ai_model": requested.name,
            "model_assignment": assignment.reason[:200], "rollout_id": assignment.rollout_id}  # fmt: skip


def _risks_by_model(task_type: TaskType, assignments: list[ModelAssignment], payloads: list[dict]) -> list:
    """Risk depends on the model: score each model's share of the batch together."""
    risks: list = [None] * len(payloads)
    for model in {assignment.ai_model.name: assignment.ai_model for assignment in assignments}.values():
        positions = [i for i, assignment in enumerate(assignments) if assignment.ai_model.name == model.name]
        scored = tasks_risk_assess(task_type=task_type, ai_model=model, payloads=[payloads[i] for i in positions])
        for position, risk in zip(positions, scored, strict=True):
            risks[position] = risk
    return risks


def _initial_status(task_type: TaskType, risk: RiskAssessment) -> str:
    if task_type.needs_review or risk.needs_review:
        return ExecutionTask.Status.NEEDS_REVIEW
    return ExecutionTask.Status.PENDING


def _risk_fields(risk: RiskAssessment) -> dict:
    return {"risk_score": risk.score, "risk_level": risk.level, "risk_breakdown": risk.breakdown,
            "money_at_stake": risk.money_at_stake}  # fmt: skip
