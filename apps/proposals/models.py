from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from apps.execution.models import ExecutionTask

from .parser import CATEGORY_MAX_LENGTH, SEVERITY_RANGE

TITLE_LENGTH = 90


class ProposalQuerySet(models.QuerySet):
    def blocking(self):
        """Reports asking to block execution that no reviewer has looked at yet."""
        return self.filter(block_execution=True, status=Proposal.Status.NEW)


class Proposal(models.Model):
    """A self-assessment report (FSAR) the AI system wrote about itself, and what staff decided about it."""

    class Status(models.TextChoices):
        NEW = "new"
        ACKNOWLEDGED = "acknowledged"
        ACCEPTED = "accepted"
        REJECTED = "rejected"
        IMPLEMENTED = "implemented"

    report_id = models.CharField("report id", max_length=64, unique=True)
    reported_at = models.DateTimeField("reported at")
    severity = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(SEVERITY_RANGE[0]), MaxValueValidator(SEVERITY_RANGE[1])]
    )
    block_execution = models.BooleanField("blocks execution")
    category = models.CharField(max_length=CATEGORY_MAX_LENGTH, blank=True)
    body = models.TextField(help_text="Markdown, as written by the AI system.")
    risks = models.JSONField(default=list)
    mitigations = models.JSONField(default=list)
    raw_text = models.TextField("raw report", help_text="Exactly as received.")
    source = models.CharField(max_length=300, help_text="File name or API client.")
    received_at = models.DateTimeField(auto_now_add=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    reviewer_comment = models.TextField(blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="Who accepted or rejected it.",
    )  # fmt: skip
    decided_at = models.DateTimeField(null=True, blank=True)
    implemented_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    implemented_at = models.DateTimeField(null=True, blank=True)
    lead_time = models.DurationField(null=True, blank=True, help_text="From received to implemented.")
    tasks = models.ManyToManyField(ExecutionTask, blank=True, related_name="proposals")

    history = HistoricalRecords(excluded_fields=["raw_text"])  # the raw text never changes; keep it once
    objects = ProposalQuerySet.as_manager()

    class Meta:
        ordering = ["-reported_at", "-id"]
        permissions = [("review_proposal", "Can acknowledge, accept and reject proposals")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(severity__gte=SEVERITY_RANGE[0], severity__lte=SEVERITY_RANGE[1]),
                name="proposal_severity_range",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["new", "acknowledged", "accepted", "rejected", "implemented"]),
                name="proposal_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "block_execution"], name="proposal_status_block_idx"),
            models.Index(fields=["-severity", "-reported_at"], name="proposal_severity_idx"),
            # The list (newest first), its filters, and its search by words.
            models.Index(fields=["-reported_at", "-id"], name="proposal_reported_id_idx"),
            models.Index(fields=["status", "-reported_at", "-id"], name="proposal_status_idx"),
            models.Index(fields=["category", "-reported_at", "-id"], name="proposal_category_idx"),
            models.Index(
                fields=["-reported_at", "-id"], name="proposal_blocking_idx", condition=models.Q(block_execution=True)
            ),
            GinIndex(SearchVector("body", config="english"), name="proposal_body_search_idx"),
        ]

    def __str__(self) -> str:
        return self.report_id

    @property
    def title(self) -> str:
        """A line a person can scan a list by: the body's first sentence, without its `category:` prefix or
        Markdown marks (the report id is a UUID)."""
        for line in self.body.splitlines():
            text = line.strip().lstrip("#*->").strip()
            if self.category and text.lower().startswith(f"{self.category.lower()}:"):
                text = text[len(self.category) + 1 :].strip()
            if text:
                sentence = text.split(". ", 1)[0].replace("**", "").rstrip(".")
                return sentence if len(sentence) <= TITLE_LENGTH else sentence[: TITLE_LENGTH - 1] + "…"
        return self.report_id


ProposalStatus = Proposal.Status  # importable by name for the API schema's enum (SPECTACULAR_SETTINGS)
