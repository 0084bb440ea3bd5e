"""Changing the order a waiting task runs in."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from ..models import ExecutionTask
from .validation import priority_check


def task_priority_set(*, task: ExecutionTask, priority: Any) -> ExecutionTask:
    """Change the order a waiting task runs in; nothing else about it (its status belongs to the engine)."""
    errors: dict[str, str] = {}
    checked = priority_check(priority, errors)
    if errors:
        raise ValidationError(errors)
    task.priority = checked
    task.save(update_fields=["priority"])  # with a history row: who changed it, when
    return task
