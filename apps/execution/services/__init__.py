"""Writes to execution tasks. Every entry point (admin, API, jobs, importers) goes through these."""

from .ai_models import ai_model_endpoint, ai_model_endpoint_approve, ai_model_save
from .bulk import bulk_operation_run, bulk_operation_start, bulk_operations_resume, tasks_apply
from .control import (
    execution_control,
    execution_hold_register,
    execution_holds,
    execution_pause,
    execution_paused,
    execution_release,
    execution_resume,
)
from .creation import task_create, tasks_create_many
from .queueing import jobs_push, sweeper_ensure_scheduled, task_cancel, task_enqueue, tasks_queue
from .review import task_approve, task_reject
from .running import task_cost, task_execute, tasks_recover_lost
from .sweep import tasks_sweep
from .tasks import TaskStateError, event_record, task_priority_set, task_transition, task_validate

__all__ = [
    "ai_model_endpoint",
    "ai_model_endpoint_approve",
    "ai_model_save",
    "bulk_operation_run",
    "bulk_operation_start",
    "bulk_operations_resume",
    "TaskStateError",
    "event_record",
    "execution_control",
    "execution_hold_register",
    "execution_holds",
    "execution_pause",
    "execution_paused",
    "execution_release",
    "execution_resume",
    "jobs_push",
    "sweeper_ensure_scheduled",
    "task_approve",
    "task_cancel",
    "task_cost",
    "task_create",
    "task_enqueue",
    "task_execute",
    "task_priority_set",
    "task_reject",
    "task_transition",
    "task_validate",
    "tasks_apply",
    "tasks_create_many",
    "tasks_queue",
    "tasks_recover_lost",
    "tasks_sweep",
]
