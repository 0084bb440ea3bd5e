from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Now

from .chain import AUDIT_TABLE


class AuditLog(models.Model):
    """One thing someone (or the system) did that must stay on record: append-only and hash-chained
    (`chain.py`). Written in the same transaction as the action, by services and the transition funnel only."""

    created_at = models.DateTimeField(db_default=Now())
    actor = models.ForeignKey(  # PROTECT: a user with audit rows is deactivated, never deleted
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    actor_label = models.CharField("by", max_length=150, db_default="system", help_text="Username, or who else.")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, help_text="app_label.model of the object the action was on.")
    object_id = models.CharField(max_length=64, db_default="")
    object_repr = models.CharField("object", max_length=200, db_default="")
    summary = models.TextField(db_default="")
    details = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    chain_position = models.BigIntegerField(unique=True, db_default=0, editable=False,
                                      help_text="Place in the hash chain (set by the database).")
    prev_hash = models.CharField(max_length=64, db_default="", editable=False)
    hash = models.CharField(max_length=64, db_default="", editable=False)

    class Meta:
        db_table = AUDIT_TABLE
        ordering = ["-id"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        indexes = [  # each list filter, ending in the list's order
            models.Index(fields=["actor", "-id"], name="audit_actor_id_idx"),
            models.Index(fields=["action", "-id"], name="audit_action_id_idx"),
            models.Index(fields=["object_type", "object_id", "-id"], name="audit_object_id_idx"),
            models.Index(fields=["object_type", "-id"], name="audit_object_type_id_idx"),
            models.Index(fields=["created_at"], name="audit_created_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.object_repr or self.object_id}"
