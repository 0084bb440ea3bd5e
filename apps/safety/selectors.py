"""Reads of the safety app that several places need: the review queue and who may review."""

from django.contrib.auth import get_user_model
from django.db.models import DecimalField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Greatest

from apps.execution.models import ExecutionTask
from apps.execution.services.review import REVIEW_PERMISSION

from .models import Concern

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def review_queue(tasks=None):
    """Tasks awaiting review, riskiest x most money first (money counts as at least 1, so tasks with no money at
    stake still order by risk), then the longest waiting."""
    tasks = ExecutionTask.objects.all() if tasks is None else tasks
    priority = ExpressionWrapper(F("risk_score") * Greatest(F("money_at_stake"), Value(1)),
                                 output_field=DecimalField(max_digits=20, decimal_places=2))  # fmt: skip
    return (tasks.filter(status=ExecutionTask.Status.NEEDS_REVIEW).annotate(review_priority=priority)
            .order_by("-review_priority", "created_at", "id"))  # fmt: skip


def open_concerns_for_queue(limit: int = 20) -> list[Concern]:
    concerns = list(Concern.objects.filter(status=Concern.Status.OPEN)
                    .select_related("task", "task_type", "ai_model", "offer", "reported_by")
                    .order_by("-id")[:200])  # fmt: skip
    return sorted(concerns, key=lambda concern: (SEVERITY_ORDER[concern.severity], concern.created_at))[:limit]


BADGE_CAP = 999  # the badge counts this far ("999+"): it is on every page a reviewer opens


def review_queue_length(cap: int = BADGE_CAP) -> int:
    """Tasks awaiting review plus open concerns (the navigation badge), each counted up to cap + 1."""
    return (ExecutionTask.objects.filter(status=ExecutionTask.Status.NEEDS_REVIEW)[: cap + 1].count()
            + Concern.objects.filter(status=Concern.Status.OPEN)[: cap + 1].count())  # fmt: skip


def review_queue_badge(request) -> str:
    """For reviewers only; empty (no badge) when the queue is empty."""
    if not request.user.has_perm(REVIEW_PERMISSION):
        return ""
    length = review_queue_length()
    return f"{BADGE_CAP}+" if length > BADGE_CAP else str(length) if length else ""


def reviewers():
    permission = REVIEW_PERMISSION.split(".", 1)[1]
    return (get_user_model().objects.filter(is_active=True, is_staff=True)
            .filter(Q(is_superuser=True) | Q(groups__permissions__codename=permission)
                    | Q(user_permissions__codename=permission)).distinct().order_by("username"))  # fmt: skip
