from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from apps.execution.models import AIModel, ExecutionTask, RiskLevel, TaskType
from apps.offers.models import OfferTemplate


class RiskRule(models.Model):
    """One explainable rule of the risk score, kept as data: what it looks at (`kind`, a factor in
    `scoring.FACTORS`), when it applies (`threshold`, `window`) and how many points it adds. Reviewers edit
    rules in the admin; every change re-scores the tasks still waiting to run."""

    class Kind(models.TextChoices):
        TASK_TYPE_UNRATED = "task_type_unrated", "task type never rated"
        TASK_TYPE_MEDIUM = "task_type_medium", "task type rated medium"
        TASK_TYPE_HIGH = "task_type_high", "task type rated high"
        MODEL_FAILURE_RATE = "model_failure_rate", "AI model fails often (% of its last runs)"
        MODEL_RETRY_RATE = "model_retry_rate", "AI model needs retries (% of its last runs)"
        PAYLOAD_SIZE = "payload_size", "payload larger than (bytes)"
        PAYLOAD_CODE = "payload_code", "payload holds code"
        PAYLOAD_SHELL = "payload_shell", "payload holds shell commands"
        PAYLOAD_SQL = "payload_sql", "payload holds SQL"
        SELF_PROGRAMMING_TARGET = "self_programming_target", "payload names code to change (self-programming)"
        MONEY_AT_STAKE = "money_at_stake", "money at stake above"
        OPEN_CONCERN = "open_concern", "open concerns (points each)"

    kind = models.CharField(max_length=32, choices=Kind.choices, unique=True)
    points = models.PositiveSmallIntegerField(validators=[MaxValueValidator(100)])
    threshold = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True,
        help_text="Rates: a percentage (applies above it). Size: bytes. Money: an amount. Others: unused.",
    )  # fmt: skip
    window = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Model rules: how many recent runs."
    )
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["kind"]
        constraints = [models.CheckConstraint(condition=models.Q(points__lte=100), name="risk_rule_points_range")]

    def __str__(self) -> str:
        return self.get_kind_display()


class RiskRescore(models.Model):
    """A background re-scoring of the tasks waiting to run, with its progress (the admin shows it)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    level_changed = models.PositiveIntegerField(default=0, help_text="Tasks whose risk level changed.")
    sent_to_review = models.PositiveIntegerField(default=0, help_text="Waiting tasks that now need a reviewer.")
    last_task_id = models.BigIntegerField(default=0, help_text="Where a resumed run carries on.")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "risk re-scoring"
        verbose_name_plural = "risk re-scorings"

    def __str__(self) -> str:
        return f"Re-scoring #{self.pk}: {self.reason}"

    @property
    def percent_done(self) -> int:
        return 100 if not self.total else min(100, self.processed * 100 // self.total)


class Concern(models.Model):
    """Someone's report that something is wrong with a task, a task type, an AI model or an offer. Open
    concerns raise the risk of the work they touch; a critical one on a task type or model holds it."""

    class Category(models.TextChoices):
        SAFETY = "safety"
        ETHICS = "ethics"
        QUALITY = "quality"
        SECURITY = "security"
        PRIVACY = "privacy"
        BILLING = "billing"
        OTHER = "other"

    class Severity(models.TextChoices):
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"
        CRITICAL = "critical"

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    task = models.ForeignKey(ExecutionTask, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    task_type = models.ForeignKey(TaskType, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    ai_model = models.ForeignKey(
        AIModel, to_field="name", db_column="ai_model", on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", verbose_name="AI model",
    )  # fmt: skip
    offer = models.ForeignKey(OfferTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    category = models.CharField(max_length=16, choices=Category.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    text = models.TextField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True, help_text="What the reviewer decided; the reporter sees it.")

    history = HistoricalRecords()

    TARGETS = ("task", "task_type", "ai_model", "offer")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "-id"], name="concern_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(task__isnull=False, task_type__isnull=True, ai_model__isnull=True, offer__isnull=True)
                    | models.Q(task__isnull=True, task_type__isnull=False, ai_model__isnull=True, offer__isnull=True)
                    | models.Q(task__isnull=True, task_type__isnull=True, ai_model__isnull=False, offer__isnull=True)
                    | models.Q(task__isnull=True, task_type__isnull=True, ai_model__isnull=True, offer__isnull=False)
                ),
                name="concern_exactly_one_target",
            ),
            models.CheckConstraint(
                condition=models.Q(status="open") | models.Q(resolved_at__isnull=False), name="concern_resolved_when"
            ),
        ]

    def __str__(self) -> str:
        return f"Concern #{self.pk} ({self.severity}) on {self.target_label}"

    @property
    def target(self):
        return next((getattr(self, name) for name in self.TARGETS if getattr(self, f"{name}_id")), None)

    @property
    def target_label(self) -> str:
        for name in self.TARGETS:
            if getattr(self, f"{name}_id"):
                return f"{self._meta.get_field(name).verbose_name} {getattr(self, name)}"
        return "nothing"


class SafetyAudit(models.Model):
    """A scheduled check with a gate: a registered check (`checks.CHECKS`) run on a cron schedule; on failure
    it warns, or pauses execution until a reviewer acknowledges the failed run."""

    class Gate(models.TextChoices):
        WARN = "warn", "warn"
        PAUSE = "pause", "pause execution"

    name = models.CharField(max_length=100, unique=True)
    check_name = models.CharField("check", max_length=64)
    schedule = models.CharField(max_length=100, default="*/30 * * * *", help_text="Cron expression (UTC).")
    gate = models.CharField(max_length=8, choices=Gate.choices, default=Gate.WARN)
    bound = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, help_text="Checks with a limit (e.g. % failures)."
    )
    enabled = models.BooleanField(default=True)
    last_scheduled_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = "scheduled audit"

    def __str__(self) -> str:
        return self.name


class AuditRun(models.Model):
    """One run of a scheduled audit: passed or failed, its figures and evidence."""

    audit = models.ForeignKey(SafetyAudit, on_delete=models.PROTECT, related_name="runs")
    gate = models.CharField(max_length=8, choices=SafetyAudit.Gate.choices, default=SafetyAudit.Gate.WARN,
                            help_text="The audit's gate when this run started: what its failure holds.")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    passed = models.BooleanField(null=True, help_text="Empty while it runs.")
    figures = models.JSONField(encoder=DjangoJSONEncoder, default=dict, blank=True)
    evidence = models.JSONField(encoder=DjangoJSONEncoder, default=list, blank=True)
    error = models.TextField(blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledgement = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["audit", "-id"], name="audit_run_audit_idx")]

    def __str__(self) -> str:
        return f"{self.audit} run #{self.pk}"

    @property
    def holds_execution(self) -> bool:
        return self.passed is False and self.gate == SafetyAudit.Gate.PAUSE and self.acknowledged_at is None


class ReviewQueueTask(ExecutionTask):
    """The review queue's view of tasks (a proxy: same table, its own admin page)."""

    class Meta:
        proxy = True
        verbose_name = "task awaiting review"
        verbose_name_plural = "review queue"


__all__ = ["AuditRun", "Concern", "ReviewQueueTask", "RiskLevel", "RiskRescore", "RiskRule", "SafetyAudit"]
