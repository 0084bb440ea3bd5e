"""Creating tasks: every entry point (admin, API, importers, reports) creates tasks here, then queues them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import AIModel, ExecutionTask, TaskType
from .queueing import tasks_queue
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
    """Create a task and its `created` event together and queue it (its job goes to Redis on commit);
    tasks needing review start as `needs_review` and wait for a reviewer instead."""
    resolved_task_type, resolved_ai_model, checked_payload, checked_priority = task_validate(
        task_type=task_type, ai_model=ai_model, payload=payload, priority=priority
    )
    status = ExecutionTask.Status.NEEDS_REVIEW if resolved_task_type.needs_review else ExecutionTask.Status.PENDING
    task = ExecutionTask.objects.create(
        task_type=resolved_task_type,
        ai_model=resolved_ai_model,
        payload=checked_payload,
        priority=checked_priority,
        status=status,
        created_by=acting_user(created_by),
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
    them together (one Redis round trip on commit). All or nothing: one bad payload refuses the batch."""
    resolved_task_type, resolved_ai_model, _, checked_priority = task_validate(
        task_type=task_type, ai_model=ai_model, payload={}, priority=priority
    )
    errors: dict[str, str] = {}
    checked = [payload_check(payload, errors) for payload in payloads]
    if errors:
        raise ValidationError({"payloads": f"every payload must be a JSON object: {errors['payload']}"})
    status = ExecutionTask.Status.NEEDS_REVIEW if resolved_task_type.needs_review else ExecutionTask.Status.PENDING
    creator = acting_user(created_by)
    tasks = ExecutionTask.objects.bulk_create(
        ExecutionTask(
            task_type=resolved_task_type, ai_model=resolved_ai_model, payload=payload, priority=checked_priority,
            status=status, created_by=creator,
        )
        for payload in checked
    )  # fmt: skip
    task_created_record(tasks, actor=creator)
    ids = [task.pk for task in tasks]
    if status == ExecutionTask.Status.PENDING:
        tasks_queue(task_ids=ids, from_status=status, actor=creator)
    return ids
