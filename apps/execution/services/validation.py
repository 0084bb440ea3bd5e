"""Checking a would-be task before anything is written: each bad field named with what is wrong."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from apps.core.validation import json_problem, text_problem

from ..models import PRIORITY_RANGE, AIModel, TaskType


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


def priority_check(priority: Any, errors: dict[str, str]) -> int:
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
    checked_priority = priority_check(priority, errors)
    if errors:
        raise ValidationError(errors)
    return resolved_task_type, resolved_ai_model, checked_payload, checked_priority
