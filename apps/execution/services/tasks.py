"""The lowest layer of task writes: validation, the timeline, the status move; creation is in `creation`."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from apps.core.validation import json_problem, text_problem

from ..models import PRIORITY_RANGE, AIModel, ExecutionEvent, ExecutionTask, TaskType


class TaskStateError(Exception):
    """A status change the state machine does not allow (or another worker got there first)."""


def _ai_model_resolve(value: AIModel | str | None, errors: dict[str, str]) -> AIModel | None:
    if isinstance(value, AIModel):
        value = value.name
    if value is None or (isinstance(value, str) and not value.strip()):
        errors["ai_model"] = "ai_model is required: name an active AI model."
        return None
    if not isinstance(value, str):
        errors["ai_model"] = f"ai_model must be a model name (a string), got {type(value).__name__}."
        return None
    if problem := _name_problem(value):
        errors["ai_model"] = f"ai_model {problem}."
        return None
    model = AIModel.objects.filter(name=value).first()
    if model is None:
        errors["ai_model"] = f"Unknown ai_model {value!r}: no AI model has that name."
    elif not model.is_active:
        errors["ai_model"] = f"ai_model {value!r} is inactive; activate it or choose another model."
    return model


def _task_type_resolve(value: TaskType | str | None, errors: dict[str, str]) -> TaskType | None:
    if isinstance(value, TaskType):
        value = value.slug
    if value is None or (isinstance(value, str) and not value.strip()):
        errors["task_type"] = "task_type is required."
        return None
    if not isinstance(value, str):
        errors["task_type"] = f"task_type must be a slug (a string), got {type(value).__name__}."
        return None
    if problem := _name_problem(value):
        errors["task_type"] = f"task_type {problem}."
        return None
    task_type = TaskType.objects.filter(slug=value).first()
    if task_type is None:
        errors["task_type"] = f"Unknown task_type {value!r}."
    return task_type


def _name_problem(value: str) -> str | None:
    longest = AIModel._meta.get_field("name").max_length  # task type slugs are shorter
    if len(value) > longest:
        return f"is {len(value)} characters long; names have at most {longest}"
    return text_problem(value)


def payload_check(payload: Any, errors: dict[str, str]) -> dict:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        errors["payload"] = f"payload must be a JSON object, got {type(payload).__name__}."
        return {}
    if problem := json_problem(payload, where="payload", max_depth=settings.API_JSON_MAX_DEPTH):
        errors["payload"] = f"{problem}."
        return payload
    try:
        size = len(json.dumps(payload, allow_nan=False).encode())
    except (TypeError, ValueError) as error:
        errors["payload"] = f"payload is not valid JSON: {error}."
        return payload
    if size > settings.EXECUTION_PAYLOAD_MAX_BYTES:
        errors["payload"] = (
            f"payload is {size} bytes as JSON; the limit is {settings.EXECUTION_PAYLOAD_MAX_BYTES} "
            "(EXECUTION_PAYLOAD_MAX_BYTES)."
        )
    return payload


def _priority_check(priority: Any, errors: dict[str, str]) -> int:
    low, high = PRIORITY_RANGE
    if isinstance(priority, bool) or not isinstance(priority, int) or not low <= priority <= high:
        errors["priority"] = f"priority must be a whole number from {low} to {high}."
        return 0
    return priority


def task_validate(
    *, task_type: TaskType | str | None, ai_model: AIModel | str | None, payload: Any = None, priority: Any = 0
) -> tuple[TaskType, AIModel, dict, int]:
    """Check a would-be task; raise ValidationError naming each bad field, or return its resolved parts."""
    errors: dict[str, str] = {}
    resolved_ai_model = _ai_model_resolve(ai_model, errors)
    resolved_task_type = _task_type_resolve(task_type, errors)
    checked_payload = payload_check(payload, errors)
    checked_priority = _priority_check(priority, errors)
    if errors:
        raise ValidationError(errors)
    return resolved_task_type, resolved_ai_model, checked_payload, checked_priority


def event_record(
    *, task: ExecutionTask, kind: str, actor=None, message: str = "", error: str = "", duration_ms: int | None = None
) -> ExecutionEvent:
    """Append an event to the task's timeline, stamped with the task's ai_model."""
    return ExecutionEvent.objects.create(
        task=task,
        kind=kind,
        ai_model=task.ai_model_id,
        actor=actor,
        message=message,
        error=error,
        duration_ms=duration_ms,
    )


def acting_user(user):
    """Who to record as having done something: a signed-in user, else nobody (the system, a job, a webhook)."""
    return user if user is not None and user.is_authenticated else None


def task_priority_set(*, task: ExecutionTask, priority: Any) -> ExecutionTask:
    """Change the order a waiting task runs in; nothing else about it (its status belongs to the engine)."""
    errors: dict[str, str] = {}
    checked = _priority_check(priority, errors)
    if errors:
        raise ValidationError(errors)
    task.priority = checked
    task.save(update_fields=["priority"])  # with a history row: who changed it, when
    return task


def task_transition(*, task: ExecutionTask, to: str, refresh: bool = True, **changes: Any) -> ExecutionTask:
    """Move a task to `to` with one conditional UPDATE; the only place task status changes.

    Raises TaskStateError when the move is not allowed from the task's current status in the database,
    which is also what a second worker racing for the same task sees.
    """
    sources = ExecutionTask.statuses_leading_to(to)
    updated = ExecutionTask.objects.filter(pk=task.pk, status__in=sources).update(status=to, **changes)
    if not updated:
        current = ExecutionTask.objects.filter(pk=task.pk).values_list("status", flat=True).first()
        raise TaskStateError(f"task {task.pk} cannot move from {current or 'deleted'} to {to}")
    if refresh:
        task.refresh_from_db()
    else:  # the caller holds the row locked and knows what it wrote
        task.status = to
        for name, value in changes.items():
            setattr(task, name, value)
    return task
