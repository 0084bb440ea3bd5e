"""Which model a new task runs on. A task asks for a model (or gets its type's default); when the type has a
rollout and the task asks for the rollout's champion, the rollout decides: running, the candidate takes its share
of subjects by a sticky hash of the caller's key (else the task id); held, the champion runs; promoted, the
candidate runs. The task records what it asked for, what it got and why. apps.experiments changes rollouts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import Case, F, Value, When

from apps.core.assignment import BUCKETS, bucket_of

from ..models import AIModel, ExecutionTask, ModelRollout, TaskType

Status = ModelRollout.Status


@dataclass(frozen=True)
class ModelAssignment:
    ai_model: AIModel
    reason: str
    rollout_id: int | None = None


def rollout_current(*, task_type: TaskType) -> ModelRollout | None:
    """The type's live rollout, else its latest promotion (which keeps routing the old champion's requests)."""
    live_first = Case(When(status__in=ModelRollout.LIVE, then=Value(0)), default=Value(1))
    return (ModelRollout.objects.select_related("champion", "candidate")
            .filter(task_type=task_type, status__in=[*ModelRollout.LIVE, Status.PROMOTED])
            .order_by(live_first, F("decided_at").desc(nulls_last=True), "-id").first())  # fmt: skip


def models_assign(
    *, task_type: TaskType, requested: AIModel, keys: Sequence[str | None]
) -> tuple[list[ModelAssignment], list[int | None] | None]:
    """One assignment per key, and per key the id to create its task with when the key was missing and the task
    id stands in for it (taken from the table's sequence, so the id is known before the insert)."""
    rollout = rollout_current(task_type=task_type)
    if rollout is None or requested.name != rollout.champion_id:
        return [ModelAssignment(requested, "as requested")] * len(keys), None
    if not rollout.candidate.is_active:
        reason = f"rollout #{rollout.pk}: candidate {rollout.candidate_id} is inactive"
        return [ModelAssignment(rollout.champion, reason, rollout.pk)] * len(keys), None
    if rollout.status == Status.PROMOTED:
        reason = f"rollout #{rollout.pk} promoted {rollout.candidate_id} over {rollout.champion_id}"
        return [ModelAssignment(rollout.candidate, reason, rollout.pk)] * len(keys), None
    if rollout.status == Status.HELD:
        reason = f"rollout #{rollout.pk} held: champion only"
        return [ModelAssignment(rollout.champion, reason, rollout.pk)] * len(keys), None
    spare = iter(_ids_reserve(sum(1 for key in keys if not key)))
    ids = [None if key else next(spare) for key in keys]
    subjects = [key or f"task:{task_id}" for key, task_id in zip(keys, ids, strict=True)]
    return [_canary(rollout, subject) for subject in subjects], ids


def _canary(rollout: ModelRollout, subject: str) -> ModelAssignment:
    bucket = bucket_of(salt=rollout.salt, subject=subject)
    threshold = rollout.candidate_percent * BUCKETS // 100
    arm, model = ("candidate", rollout.candidate) if bucket < threshold else ("champion", rollout.champion)
    return ModelAssignment(model, f"rollout #{rollout.pk} at {rollout.candidate_percent}%: {arm}", rollout.pk)


def _ids_reserve(count: int) -> list[int]:
    if not count:
        return []
    table = ExecutionTask._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count])
        return [row[0] for row in cursor.fetchall()]
