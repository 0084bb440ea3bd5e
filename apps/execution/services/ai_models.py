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
ENDPOINT_CHANGED = "endpoint set or changed: its tasks wait for an approval"  # the history's change reason


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
        model._change_reason = ENDPOINT_CHANGED
    model._history_user = actor  # who, in the history, also outside a request (shell, API tests)
    model.save()
    return model


def ai_model_endpoint(model: AIModel) -> tuple[str, ...]:
    """What an approval approves: the provider, URL and key variable, as the approver saw them."""
    return tuple(getattr(model, field) for field in ENDPOINT_FIELDS)


@transaction.atomic
def ai_model_endpoint_approve(*, model: AIModel, actor, seen: tuple[str, ...] | None = None) -> AIModel:
    """Let tasks run on this model's endpoint again, recording who approved it. `seen` is the endpoint the
    approver was shown: if it changed meanwhile, nothing is approved. Nobody approves an endpoint they set."""
    if not actor.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied(f"{actor} may not approve AI model endpoints")
    locked = AIModel.objects.select_for_update().get(pk=model.pk)
    if seen is not None and tuple(seen) != ai_model_endpoint(locked):
        raise ValidationError(f"the endpoint of {locked.name} changed since you looked at it: look again")
    last_change = locked.history.filter(history_change_reason=ENDPOINT_CHANGED).order_by("-history_id").first()
    if last_change is not None and last_change.history_user_id == actor.pk:
        raise PermissionDenied(f"{actor} set this endpoint: another person approves it")
    problems = locked.endpoint_problems()
    if problems:
        raise ValidationError(problems)
    if locked.endpoint_approved:
        raise ValidationError(f"the endpoint of {locked.name} is already approved")
    locked.endpoint_approved_at, locked.endpoint_approved_by = timezone.now(), actor
    locked._change_reason, locked._history_user = f"endpoint approved by {actor}", actor
    locked.save(update_fields=["endpoint_approved_at", "endpoint_approved_by", "updated_at"])
    return locked
