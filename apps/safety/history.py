"""One story per object, and everything one person did: the reads behind the history pages.

An object's story merges, in time order, its django-simple-history versions (each with the fields it changed),
its execution events (a task's status changes), the audit rows about it and the concerns raised on it. Each
entry is a plain `StoryEntry`, so the page is one loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import Model, Q

from apps.auditlog.models import AuditLog
from apps.auditlog.services import object_type_of
from apps.execution.models import ExecutionEvent, ExecutionTask

from .models import Concern

# The objects that have a story page (app_label, model_name) and how a concern points at them.
STORY_MODELS = {
    ("execution", "executiontask"): "task",
    ("execution", "tasktype"): "task_type",
    ("execution", "aimodel"): "ai_model",
    ("offers", "offertemplate"): "offer",
    ("proposals", "proposal"): None,
    ("income", "incomeevent"): None,
    ("safety", "concern"): None,
    ("safety", "riskrule"): None,
    ("safety", "safetyaudit"): None,
}
ENTRIES_MAX = 1000  # per source, oldest first
VERSION_KINDS = {"+": "created", "~": "changed", "-": "deleted"}


@dataclass
class StoryEntry:
    at: datetime
    source: str  # "version", "event", "audit", "concern"
    actor: str
    title: str
    detail: str = ""
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (field, old, new)
    version_id: int | None = None


def story_model(app_label: str, model_name: str):
    if (app_label, model_name) not in STORY_MODELS:
        return None
    return apps.get_model(app_label, model_name)


def _name(user) -> str:
    return user.get_username() if user is not None else "system"


def version_changes(new, old) -> list[tuple[str, str, str]]:
    """Field-by-field differences between two simple-history versions of one object."""
    if old is None:
        return []
    delta = new.diff_against(old)
    return [(new.instance_type._meta.get_field(change.field).verbose_name, _text(change.old), _text(change.new))
            for change in delta.changes]  # fmt: skip


def _text(value) -> str:
    text = "—" if value in (None, "") else str(value)
    return text if len(text) <= 300 else text[:299] + "…"


def _versions(obj: Model, actor_id: int | None) -> list[StoryEntry]:
    history = getattr(obj, "history", None)
    if history is None:
        return []
    versions = list(history.select_related("history_user").order_by("history_date", "history_id")[:ENTRIES_MAX])
    entries, previous = [], None
    for version in versions:
        if actor_id is None or version.history_user_id == actor_id:
            entries.append(StoryEntry(
                at=version.history_date, source="version", actor=_name(version.history_user),
                title=f"version {version.history_id}: {VERSION_KINDS.get(version.history_type, version.history_type)}",
                detail=version.history_change_reason or "", changes=version_changes(version, previous),
                version_id=version.history_id,
            ))  # fmt: skip
        previous = version
    return entries


def _events(obj: Model, actor_id: int | None) -> list[StoryEntry]:
    if not isinstance(obj, ExecutionTask):
        return []
    events = ExecutionEvent.objects.filter(task_id=obj.pk).select_related("actor").order_by("created_at", "pk")
    if actor_id is not None:
        events = events.filter(actor_id=actor_id)
    return [StoryEntry(at=event.created_at, source="event", actor=_name(event.actor),
                       title=event.get_kind_display(), detail="; ".join(filter(None, [event.message,
                                                                                       event.error_summary])))
            for event in events[:ENTRIES_MAX]]  # fmt: skip


def _audit(obj: Model, actor_id: int | None) -> list[StoryEntry]:
    rows = AuditLog.objects.filter(object_type=object_type_of(obj), object_id=str(obj.pk)).order_by("id")
    if actor_id is not None:
        rows = rows.filter(actor_id=actor_id)
    return [StoryEntry(at=row.created_at, source="audit", actor=row.actor_label, title=row.action,
                       detail=row.summary) for row in rows[:ENTRIES_MAX]]  # fmt: skip


def _concerns(obj: Model, actor_id: int | None) -> list[StoryEntry]:
    target = STORY_MODELS.get((obj._meta.app_label, obj._meta.model_name))
    if target is None:
        return []
    concerns = Concern.objects.filter(**{target: obj}).select_related("reported_by", "resolved_by").order_by("pk")
    entries = []
    for concern in concerns[:ENTRIES_MAX]:
        if actor_id is None or concern.reported_by_id == actor_id:
            entries.append(StoryEntry(at=concern.created_at, source="concern", actor=_name(concern.reported_by),
                                      title=f"concern #{concern.pk} reported ({concern.severity}, {concern.category})",
                                      detail=concern.text))  # fmt: skip
        if concern.resolved_at and (actor_id is None or concern.resolved_by_id == actor_id):
            entries.append(StoryEntry(at=concern.resolved_at, source="concern", actor=_name(concern.resolved_by),
                                      title=f"concern #{concern.pk} resolved", detail=concern.resolution_note))
    return entries


def object_story(obj: Model, *, actor_id: int | None = None, sources: set[str] | None = None) -> list[StoryEntry]:
    """Everything that happened to `obj`, oldest first (only what `actor_id` did, when given)."""
    readers = {"version": _versions, "event": _events, "audit": _audit, "concern": _concerns}
    entries = [entry for name, read in readers.items() if sources is None or name in sources
               for entry in read(obj, actor_id)]  # fmt: skip
    return sorted(entries, key=lambda entry: entry.at)


def actor_activity(*, actor_id: int, since: datetime, until: datetime) -> list[StoryEntry]:
    """Everything one person did in [since, until) across all objects: audit rows, task events, and field
    changes to every object with history; newest first."""
    window = Q(created_at__gte=since, created_at__lt=until)
    entries = [
        StoryEntry(at=row.created_at, source="audit", actor=row.actor_label, title=row.action,
                   detail=f"{row.object_repr or row.object_type + ' ' + row.object_id}: {row.summary}")
        for row in AuditLog.objects.filter(window, actor_id=actor_id).order_by("-id")[:ENTRIES_MAX]
    ]  # fmt: skip
    events = ExecutionEvent.objects.filter(window, actor_id=actor_id).order_by("-created_at")[:ENTRIES_MAX]
    entries += [StoryEntry(at=event.created_at, source="event", actor="", title=event.get_kind_display(),
                           detail=f"task #{event.task_id}: {event.message}") for event in events]  # fmt: skip
    for app_label, model_name in STORY_MODELS:
        model = apps.get_model(app_label, model_name)
        history = getattr(model, "history", None)
        if history is None:
            continue
        versions = (history.model.objects.filter(history_user_id=actor_id, history_date__gte=since,
                                                 history_date__lt=until).order_by("-history_date")[:ENTRIES_MAX])
        entries += [StoryEntry(at=version.history_date, source="version", actor="",
                               title=f"{model._meta.verbose_name} {VERSION_KINDS.get(version.history_type, '')}",
                               detail=f"#{version.id} {version.history_change_reason or ''}".strip())
                    for version in versions]  # fmt: skip
    return sorted(entries, key=lambda entry: entry.at, reverse=True)


def staff_users():
    return get_user_model().objects.filter(is_staff=True).order_by("username")
