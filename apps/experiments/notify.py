"""Telling operators that a rollout held itself: an e-mail to ALERT_EMAILS, sent by a worker after commit."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail

from apps.execution.models import ModelRollout


def rollout_held_notify(rollout_id: int) -> int:
    rollout = ModelRollout.objects.select_related("task_type").filter(pk=rollout_id).first()
    if rollout is None or not settings.ALERT_EMAILS:
        return 0
    subject = f"[Ops Console] rollout #{rollout.pk} held: {rollout.candidate_id} on {rollout.task_type}"
    body = (f"New {rollout.task_type} tasks run on {rollout.champion_id} again.\n\nWhy: {rollout.status_reason}\n\n"
            "Resume it once the candidate is fixed, or roll it back, on the rollout's page in the console.")
    return send_mail(subject, body, None, settings.ALERT_EMAILS)
