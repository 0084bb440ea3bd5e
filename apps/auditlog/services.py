"""Writing and checking the audit log. Services call `audit_record` inside their own transaction, so an action
and its audit row commit or roll back together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from .chain import FIRST_BREAK_SQL
from .models import AuditLog


def object_type_of(obj_or_model) -> str:
    meta = obj_or_model._meta
    return f"{meta.app_label}.{meta.model_name}"


def actor_label_of(actor, fallback: str = "system") -> str:
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return fallback


def audit_record(
    *,
    action: str,
    actor=None,
    target=None,
    object_type: str = "",
    object_id: Any = "",
    object_repr: str = "",
    summary: str = "",
    details: dict | None = None,
    actor_label: str = "",
) -> AuditLog:
    """Append one row. `target` is the model instance acted on (or give object_type/object_id/object_repr).
    Must run inside the action's own transaction: outside one it would commit on its own."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the action it records")
    if target is not None:
        object_type = object_type or object_type_of(target)
        object_id = object_id or target.pk
        object_repr = object_repr or str(target)
    person = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return AuditLog.objects.create(
        actor=person, actor_label=actor_label or actor_label_of(person), action=action, object_type=object_type,
        object_id=str(object_id), object_repr=object_repr[:200], summary=summary, details=details,
    )  # fmt: skip


@dataclass(frozen=True)
class ChainBreak:
    """The first row where the chain does not hold, and how."""

    id: int
    linked: bool  # its prev_hash matches the row before it
    intact: bool  # its own content matches its hash

    def __str__(self) -> str:
        if not self.intact:
            return f"audit row {self.id} was changed after it was written (its content no longer matches its hash)"
        return f"audit row {self.id} does not follow the row before it (a row before it was removed or changed)"


def audit_chain_break() -> ChainBreak | None:
    """The first broken link of the chain, or None when every row is as written. Reads the whole table once."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(FIRST_BREAK_SQL)
        row = cursor.fetchone()
    return ChainBreak(*row) if row else None
