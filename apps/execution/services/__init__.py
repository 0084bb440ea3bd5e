"""Writes to execution tasks. Every entry point (admin, API, jobs, importers) goes through these.

Layers, lowest first (import-linter checks that imports only point down; see .importlinter):
transitions, rqjobs, selectors, validation -> the use cases (creation, queueing, review, running, cancel,
control, priority, ai_models) -> bulk -> sweep.
"""

from .ai_models import ai_model_endpoint, ai_model_endpoint_approve, ai_model_save
from .bulk import ACTION_SOURCES, bulk_operation_run, bulk_operation_start, bulk_operations_resume, tasks_apply
from .cancel import task_cancel
from .control import (
    Hold,
    execution_control,
    execution_hold_register,
    execution_holds,
    execution_pause,
    execution_release,
    execution_resume,
    scoped_hold_lift,
    scoped_hold_place,
    scoped_holds,
)
from .creation import task_create, tasks_create_many
from .priority import task_priority_set
from .queueing import jobs_push, task_enqueue, tasks_queue
from .review import BULK_APPROVABLE_LEVELS, task_approve, task_reject, task_review_assign
from .risk import RiskAssessment, risk_level_of, task_risk_scorer_register, tasks_risk_assess
from .running import task_cost, task_execute
from .selectors import LIVE_STATUSES, STATUS_COUNT_CAP, execution_paused, task_status_counts
from .sweep import tasks_recover_lost, tasks_sweep
from .transitions import TRANSITIONS, TaskStateError, event_record, task_transition, tasks_transition
from .validation import task_validate

__all__ = [
    "LIVE_STATUSES",
    "STATUS_COUNT_CAP",
    "task_status_counts",
    "Hold",
    "ACTION_SOURCES",
    "TRANSITIONS",
    "TaskStateError",
    "ai_model_endpoint",
    "ai_model_endpoint_approve",
    "ai_model_save",
    "bulk_operation_run",
    "bulk_operation_start",
    "bulk_operations_resume",
    "event_record",
    "execution_control",
    "execution_hold_register",
    "execution_holds",
    "execution_pause",
    "execution_paused",
    "execution_release",
    "execution_resume",
    "jobs_push",
    "task_approve",
    "task_cancel",
    "task_cost",
    "task_create",
    "task_enqueue",
    "task_execute",
    "task_priority_set",
    "task_reject",
    "task_review_assign",
    "BULK_APPROVABLE_LEVELS",
    "RiskAssessment",
    "risk_level_of",
    "task_risk_scorer_register",
    "tasks_risk_assess",
    "scoped_hold_lift",
    "scoped_hold_place",
    "scoped_holds",
    "task_transition",
    "task_validate",
    "tasks_apply",
    "tasks_create_many",
    "tasks_queue",
    "tasks_recover_lost",
    "tasks_sweep",
    "tasks_transition",
]
