"""Blind-spot findings, drift and threshold alerts, and lead times: what the console learns by watching itself.

Findings and alerts are deduplicated by a fingerprint: a condition that persists is one row whose count and
last-seen time grow, and that resolves (closes) itself when the condition clears."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.execution.models import TaskType
from apps.proposals.models import Proposal


class Severity(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Finding(models.Model):
    """One blind spot: something the console cannot see or explain, as one detector reported it."""

    class Status(models.TextChoices):
        OPEN = "open"
        ACKNOWLEDGED = "acknowledged"
        MUTED = "muted"
        RESOLVED = "resolved"

    detector = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=200, help_text="What makes two reports the same condition.")
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.WARNING)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    links = models.JSONField(default=list, blank=True, help_text="[label, admin URL] pairs: the rows behind it.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    occurrences = models.PositiveIntegerField(default=1, help_text="Detector runs that saw it.")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    muted_until = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution_note = models.TextField(blank=True)

    class Meta:
        db_table = "metrics_findings"
        ordering = ["-last_seen", "-id"]
        constraints = [models.UniqueConstraint(fields=["detector", "fingerprint"], name="metrics_finding_key")]
        indexes = [
            models.Index(fields=["-last_seen", "-id"], name="metrics_finding_seen_idx"),
            models.Index(fields=["status", "-last_seen", "-id"], name="metrics_finding_status_idx"),
            models.Index(fields=["detector", "-last_seen", "-id"], name="metrics_finding_detector_idx"),
            models.Index(fields=["severity", "-last_seen", "-id"], name="metrics_finding_severity_idx"),
            models.Index(fields=["assignee", "-last_seen", "-id"], name="metrics_finding_assignee_idx"),
        ]

    def __str__(self) -> str:
        return self.title


UNRESOLVED = [Finding.Status.OPEN, Finding.Status.ACKNOWLEDGED, Finding.Status.MUTED]  # read through the status index


class DetectorState(models.Model):
    """Where a detector that reads only new rows stopped last time, and when it last ran."""

    detector = models.CharField(max_length=64, unique=True)
    watermark = models.BigIntegerField(default=0)
    last_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "metrics_detector_state"

    def __str__(self) -> str:
        return f"{self.detector} at {self.watermark}"


class FailureSignature(models.Model):
    """An error message with its numbers and ids taken out: the kinds of failure seen so far."""

    signature = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the normalised error line.")
    text = models.CharField(max_length=300)
    first_seen = models.DateTimeField()
    first_task_id = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "metrics_failure_signatures"

    def __str__(self) -> str:
        return self.text


class Metric(models.TextChoices):
    FAILURE_RATE = "failure_rate", "failure rate"
    P95_DURATION = "p95_duration", "p95 duration (s)"
    COST_PER_RUN = "cost_per_run", "cost per run"
    MARGIN_PER_RUN = "margin_per_run", "margin per run"
    REJECTION_RATE = "rejection_rate", "review rejection rate"
    CONCERN_RATE = "concern_rate", "concerns per run"


class AlertRule(models.Model):
    """When to open an alert on one metric of each model x task type: on drift from the pair's own baseline (the
    same hour of day over the trailing days), or above / below a fixed value."""

    class Kind(models.TextChoices):
        DRIFT = "drift", "drift from its own baseline"
        ABOVE = "above", "above a fixed value"
        BELOW = "below", "below a fixed value"

    name = models.CharField(max_length=100, unique=True)
    metric = models.CharField(max_length=20, choices=Metric.choices)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.DRIFT)
    deviations = models.DecimalField(
        max_digits=5, decimal_places=2, default=3,
        help_text="Drift: how many spreads (scaled median absolute deviations) from the baseline's median.",
    )  # fmt: skip
    threshold = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, help_text="Above / below: the fixed value."
    )
    sustain_hours = models.PositiveSmallIntegerField(
        default=2, help_text="Consecutive hours beyond the limit before an alert opens."
    )
    min_runs = models.PositiveIntegerField(default=10, help_text="Hours with fewer runs are not judged.")
    ai_model = models.CharField("AI model", max_length=200, blank=True, help_text="Empty: every model.")
    task_type = models.ForeignKey(
        TaskType, on_delete=models.CASCADE, null=True, blank=True, related_name="+", help_text="Empty: every type."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        db_table = "metrics_alert_rules"
        ordering = ["metric", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="drift") | Q(threshold__isnull=False), name="metrics_rule_threshold_needed"
            ),
            models.CheckConstraint(condition=Q(deviations__gt=0), name="metrics_rule_deviations_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    """A metric of one model x task type beyond its rule, sustained; closed when the metric returns."""

    class Status(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    ai_model = models.CharField("AI model", max_length=200)
    task_type = models.ForeignKey(TaskType, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    value = models.FloatField(help_text="The metric in the last hour judged.")
    baseline_median = models.FloatField(null=True, blank=True)
    baseline_spread = models.FloatField(null=True, blank=True)
    limit = models.FloatField(help_text="The value beyond which the metric counted as drifted.")
    series = models.JSONField(default=list, blank=True, help_text="[hour, value, baseline median] while judged.")
    opened_at = models.DateTimeField()
    last_seen = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    reopened = models.PositiveIntegerField(default=0, help_text="Times it came back within the quiet period.")
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "metrics_alerts"
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "ai_model", "task_type"], condition=Q(status="open"), name="metrics_alert_one_open"
            )
        ]
        indexes = [
            models.Index(fields=["-opened_at", "-id"], name="metrics_alert_opened_idx"),
            models.Index(fields=["status", "-opened_at", "-id"], name="metrics_alert_status_idx"),
            models.Index(fields=["rule", "-opened_at", "-id"], name="metrics_alert_rule_idx"),
            models.Index(fields=["ai_model", "-opened_at", "-id"], name="metrics_alert_model_idx"),
            models.Index(fields=["rule", "ai_model", "task_type", "-closed_at"], name="metrics_alert_pair_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule.get_metric_display()} of {self.ai_model} on {self.task_type}"


class LeadTime(models.Model):
    """Proposal lead times per category x month of the report x stage, refreshed by a periodic job so that the
    dashboard reads a few rows."""

    class Stage(models.TextChoices):
        ACCEPTED = "accepted", "accepted"
        FIRST_TASK = "first_task", "first task created"
        TASK_SUCCEEDED = "task_succeeded", "a task succeeded"
        IMPLEMENTED = "implemented", "implemented"

    category = models.CharField(max_length=100)
    month = models.DateField(help_text="First day of the month the report was written.")
    stage = models.CharField(max_length=16, choices=Stage.choices)
    proposals = models.PositiveIntegerField()
    median_seconds = models.FloatField()
    p90_seconds = models.FloatField()

    class Meta:
        db_table = "metrics_lead_times"
        ordering = ["-month", "category", "stage"]
        constraints = [
            models.UniqueConstraint(fields=["category", "month", "stage"], name="metrics_lead_time_key")
        ]

    def __str__(self) -> str:
        return f"{self.category} {self.month:%Y-%m} {self.stage}"

    @property
    def median_days(self) -> float:
        return self.median_seconds / 86400

    @property
    def p90_days(self) -> float:
        return self.p90_seconds / 86400


class SlowProposal(models.Model):
    """The proposals that took, or have been waiting, longest: kept by the lead-time refresh so that the page
    reads a few rows, not every proposal."""

    stage = models.CharField(max_length=40)
    rank = models.PositiveSmallIntegerField()
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="+")
    seconds = models.FloatField()
    reached = models.BooleanField(help_text="False: still waiting, counted up to the refresh.")

    class Meta:
        db_table = "metrics_slow_proposals"
        ordering = ["stage", "rank"]

    def __str__(self) -> str:
        return f"{self.stage} #{self.rank}: {self.proposal_id}"

    @property
    def days(self) -> float:
        return self.seconds / 86400
