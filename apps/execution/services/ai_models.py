"""AI models: where tasks are sent and with which key. An endpoint is where a task's prompt and an API key go,
so setting one is its own permission and a new or changed endpoint runs nothing until it is approved."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import ENDPOINT_FIELDS, AIModel

ENDPOINT_PERMISSION = "execution.change_aimodel_endpoint"
APPROVE_PERMISSION = "execution.approve_aimodel_endpoint"


GUARDED_FIELDS = {"base_url", "api_key_env"}  # where prompts and the key go: setting them needs the permission


def ai_model_endpoint_changes(model: AIModel) -> set[str]:
    """The endpoint fields (provider, URL, key variable) that saving `model` would set or change."""
    if model.pk is None:
        return {field for field in GUARDED_FIELDS if getattr(model, field)}
    before = AIModel.objects.filter(pk=model.pk).values(*ENDPOINT_FIELDS).first() or {}
    return {field for field in ENDPOINT_FIELDS if before.get(field) != getattr(model, field)}


@transaction.atomic
def ai_model_save(*, model: AIModel, actor=None) -> AIModel:
    """Validate and save a new or changed AI model (admin, API, shell). Setting or changing its endpoint needs
    the endpoint permission (when a person does it) and withdraws the approval, audited in the model's history."""
    changed = ai_model_endpoint_changes(model)
    if changed & GUARDED_FIELDS and actor is not None and not actor.has_perm(ENDPOINT_PERMISSION):
        raise PermissionDenied(f"{actor} may not set an AI model's endpoint URL or API key variable")
    model.full_clean()
    if changed:
        model.endpoint_approved_at = model.endpoint_approved_by = None
        model._change_reason = "endpoint set or changed: its tasks wait for an approval"
    model.save()
    return model


@transaction.atomic
def ai_model_endpoint_approve(*, model: AIModel, actor) -> AIModel:
    """Let tasks run on this model's endpoint again, recording who approved it."""
    if not actor.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied(f"{actor} may not approve AI model endpoints")
    locked = AIModel.objects.select_for_update().get(pk=model.pk)
    problems = locked.endpoint_problems()
    if problems:
        raise ValidationError(problems)
    if locked.endpoint_approved:
        raise ValidationError(f"the endpoint of {locked.name} is already approved")
    locked.endpoint_approved_at, locked.endpoint_approved_by = timezone.now(), actor
    locked._change_reason = f"endpoint approved by {actor}"
    locked.save(update_fields=["endpoint_approved_at", "endpoint_approved_by", "updated_at"])
    return locked
