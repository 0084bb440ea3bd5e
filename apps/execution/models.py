import re
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Cast
from django.db.models.lookups import Exact
from simple_history.models import HistoricalRecords

PRIORITY_RANGE = (-100, 100)
API_KEY_ENV_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]*_API_KEY$")
ENDPOINT_FIELDS = ("provider", "base_url", "api_key_env")  # a change to any of them needs a new approval


class AIModel(models.Model):
    """A named model the AI system runs tasks on; `name` is what tasks store in `execution_tasks.ai_model`."""

    class Provider(models.TextChoices):
        OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible API"
        ECHO = "echo", "Echo (returns the payload; demos and tests)"

    name = models.CharField(
        max_length=200,
        unique=True,
        validators=[RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$", "Letters, digits and . _ : / @ + - only.")],
        help_text="Model name sent to the provider, e.g. qwen2.5-coder-32b.",
    )
    provider = models.CharField(max_length=32, choices=Provider.choices, default=Provider.OPENAI_COMPATIBLE)
    base_url = models.URLField("endpoint base URL", blank=True, help_text="e.g. https://api.example.com/v1")
    api_key_env = models.CharField(
        "API key environment variable",
        max_length=100,
        blank=True,
        validators=[RegexValidator(r"^[A-Z_][A-Z0-9_]*$", "An environment variable name, e.g. QWEN_API_KEY.")],
        help_text="Name of the environment variable that holds the key. The key itself is never stored.",
    )
    # NULL means "price unknown": costs are then unknown too, never silently zero.
    input_price_per_million = models.DecimalField(
        "input price per 1M tokens",
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    output_price_per_million = models.DecimalField(
        "output price per 1M tokens",
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    is_active = models.BooleanField("active", default=True)
    endpoint_approved_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: the endpoint is new or changed and no tasks run on it until approved."
    )
    endpoint_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "AI model"
        ordering = ["name"]
        permissions = [
            ("change_aimodel_endpoint", "Can set an AI model's endpoint URL and API key variable"),
            ("approve_aimodel_endpoint", "Can approve an AI model's endpoint so that its tasks run"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        errors = self.endpoint_problems()
        if self.provider == self.Provider.OPENAI_COMPATIBLE and not self.base_url:
            errors.setdefault(
                "base_url", "An OpenAI-compatible model needs its endpoint base URL (set by a superuser), or use Echo."
            )
        if errors:
            raise ValidationError(errors)

    def endpoint_problems(self) -> dict[str, str]:
        """What makes this endpoint unsafe to call under the current settings, by field (empty: nothing).
        Checked when the model is saved and again before every call, so a row saved before a setting tightened
        is refused at run time instead of sending a secret."""
        problems = {}
        variable = self.api_key_env
        if variable and not (API_KEY_ENV_PATTERN.match(variable) and variable in settings.AI_MODEL_KEY_ENV_ALLOWED):
            allowed = ", ".join(settings.AI_MODEL_KEY_ENV_ALLOWED) or "none are listed"
            problems["api_key_env"] = (
                f"{variable} is not an allowed API key variable: it must be named *_API_KEY and listed in "
                f"AI_MODEL_KEY_ENV_ALLOWED ({allowed})."
            )
        hosts = settings.AI_MODEL_ENDPOINT_HOSTS_ALLOWED
        host = urlsplit(self.base_url).hostname if self.base_url else None
        if host and hosts and host not in hosts:
            problems["base_url"] = f"{host} is not an allowed endpoint host (AI_MODEL_ENDPOINT_HOSTS_ALLOWED)."
        return problems

    @property
    def endpoint_approved(self) -> bool:
        return self.endpoint_approved_at is not None


class TaskType(models.Model):
    """A kind of work (implement_idea, self_programming, ...) with its execution and review policy."""

    class RiskLevel(models.TextChoices):
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"

    class Executor(models.TextChoices):
        OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible chat completion"
        ECHO = "echo", "Echo"

    slug = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    executor = models.CharField(max_length=64, choices=Executor.choices, default=Executor.OPENAI_COMPATIBLE)
    timeout_seconds = models.PositiveIntegerField(
        default=600, validators=[MinValueValidator(1), MaxValueValidator(24 * 3600)]
    )
    max_attempts = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(1), MaxValueValidator(20)])
    risk_level = models.CharField("risk rating", max_length=8, choices=RiskLevel.choices, default=RiskLevel.LOW)
    risk_rated_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Empty: nobody has rated this type yet; its tasks score high."
    )
    risk_rated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    requires_review = models.BooleanField(default=False, help_text="Tasks wait for a reviewer before they run.")
    audit_trail = models.BooleanField(
        default=False, db_default=False,
        help_text="Every status change of its tasks is written to the audit log, with a hash of the payload.",
    )
    default_ai_model = models.ForeignKey(
        "AIModel", to_field="name", db_column="default_ai_model", on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", verbose_name="default AI model",
        help_text="Used when a task of this type names no model; a promoted rollout sets it to its candidate.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=models.Q(timeout_seconds__gte=1), name="task_type_timeout_positive"),
            models.CheckConstraint(condition=models.Q(max_attempts__gte=1), name="task_type_max_attempts_positive"),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def needs_review(self) -> bool:
        return self.requires_review or self.risk_level == self.RiskLevel.HIGH

    @property
    def is_rated(self) -> bool:
        return self.risk_rated_at is not None


class TaskStatus(models.TextChoices):
    PENDING = "pending"
    NEEDS_REVIEW = "needs_review", "needs review"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


def error_summary(error: str, *, limit: int = 200) -> str:
    """One line for lists and timelines: a traceback's last line ("openai.APITimeoutError: Request timed out."),
    or the first line of any other error text."""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    summary = lines[-1] if lines[0].startswith("Traceback (most recent call last)") else lines[0]
    summary = summary.strip()
    return summary if len(summary) <= limit else summary[: limit - 1] + "…"


class RiskLevel(models.TextChoices):
    """A task's risk level, from its score (apps.safety's rules)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ExecutionTask(models.Model):
    """One unit of AI work on one `ai_model`.

    Status changes only through ``services.transitions.tasks_transition``, whose ``TRANSITIONS`` table lists
    the allowed moves::

        needs_review --approve--> pending <-enqueue--> queued --claim--> running --> succeeded
             |                       |                   |                  |------> failed --retry--> queued
             +--reject--> cancelled <+-------------------+------------------+------> queued (automatic retry)
    """

    Status = TaskStatus

    task_type = models.ForeignKey(TaskType, on_delete=models.PROTECT, related_name="tasks", db_index=False)
    ai_model = models.ForeignKey(
        AIModel,
        to_field="name",
        db_column="ai_model",
        on_delete=models.PROTECT,
        related_name="tasks",
        db_index=False,  # covered by the (ai_model, created_at) index
        verbose_name="AI model",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    priority = models.SmallIntegerField(
        default=0,
        validators=[MinValueValidator(PRIORITY_RANGE[0]), MaxValueValidator(PRIORITY_RANGE[1])],
        help_text="Higher runs first (-100 to 100).",
    )
    payload = models.JSONField(default=dict, help_text='A JSON object, e.g. {"prompt": "..."}.')
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField("duration (ms)", null=True, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True, help_text="Empty = unknown.")
    rq_job_id = models.CharField("RQ job id", max_length=64, blank=True)
    cancel_requested = models.BooleanField(default=False, help_text="A running task stops at its next safe point.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    risk_score = models.PositiveSmallIntegerField(default=0, db_default=0, help_text="0-100, from the risk rules.")
    risk_level = models.CharField(max_length=8, choices=RiskLevel.choices, default=RiskLevel.LOW, db_default="low")
    risk_breakdown = models.JSONField(
        null=True, blank=True, help_text="Each rule that added points: [{rule, points, why}]."
    )
    money_at_stake = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, db_default=0,
        help_text="Price of the offers that sell this work plus the task's income, in the reporting currency.",
    )
    review_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        db_index=False, help_text="The reviewer who claimed this task.",  # the queue filters the few waiting tasks
    )
    # Which model the creator asked for and why `ai_model` (what runs) may differ: a rollout's canary, a hold
    # after its guardrails tripped, a promotion, or the task type's default (services/rollouts.py).
    requested_ai_model = models.CharField("requested AI model", max_length=200, blank=True, db_default="")
    model_assignment = models.CharField("model assignment", max_length=200, blank=True, db_default="")
    rollout = models.ForeignKey(
        "ModelRollout", on_delete=models.PROTECT, null=True, blank=True, related_name="tasks", db_index=False,
        help_text="The rollout that chose this task's model (its arm is the model).",
    )

    history = HistoricalRecords()

    class Meta:
        # Income's rollup triggers (apps/income/rollups.py) read this table on every insert, delete and update of
        # status, cost, finished_at, attempts, ai_model or task_type_id: check_schema checks they are there.
        db_table = "execution_tasks"
        ordering = ["-created_at", "-id"]
        permissions = [("review_executiontask", "Can approve or reject tasks that need review")]
        indexes = [
            # One per list filter, each ending in the list's order: a filtered page reads its 50 rows from the
            # index instead of sorting the matches (issue 15; bench/admin_scale.py).
            models.Index(fields=["-created_at", "-id"], name="exec_task_created_id_idx"),
            models.Index(fields=["status", "-created_at", "-id"], name="exec_task_status_id_idx"),
            models.Index(fields=["task_type", "-created_at", "-id"], name="exec_task_type_id_idx"),
            models.Index(fields=["ai_model", "-created_at", "-id"], name="exec_task_ai_model_id_idx"),
            models.Index(fields=["rq_job_id"], name="exec_task_rq_job_idx"),  # search by job id
            # The list's counts by status within a filter by type or model (each count stops at 10,001 rows).
            models.Index(fields=["task_type", "status"], name="exec_task_type_status_idx"),
            models.Index(fields=["ai_model", "status"], name="exec_task_ai_model_status_idx"),
            # The review queue: the few tasks awaiting review, whatever the table's size.
            models.Index(fields=["created_at"], name="exec_task_review_queue_idx",
                         condition=models.Q(status="needs_review")),
            # Rollup rebuilds a day at a time, failure signatures since the last look (apps/metrics).
            models.Index(fields=["finished_at"], name="exec_task_finished_idx",
                         condition=models.Q(finished_at__isnull=False)),
            # A rollout's arms (apps.experiments): its few tasks, whatever the table's size.
            models.Index(fields=["rollout", "ai_model"], name="exec_task_rollout_idx",
                         condition=models.Q(rollout__isnull=False)),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=TaskStatus.values), name="exec_task_status_valid"),
            models.CheckConstraint(
                condition=models.Q(priority__gte=PRIORITY_RANGE[0], priority__lte=PRIORITY_RANGE[1]),
                name="exec_task_priority_range",
            ),
            models.CheckConstraint(condition=models.Q(risk_score__lte=100), name="exec_task_risk_score_range"),
            models.CheckConstraint(
                condition=Exact(
                    models.Func("payload", function="jsonb_typeof", output_field=models.TextField()),
                    Cast(models.Value("object"), models.TextField()),
                ),
                name="exec_task_payload_is_object",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.task_type_id and self.task_type} on {self.ai_model_id}"

    @property
    def error_summary(self) -> str:
        return error_summary(self.error)


class ExecutionEvent(models.Model):
    """Append-only log of what happened to a task; every row carries the task's `ai_model`."""

    class Kind(models.TextChoices):
        CREATED = "created"
        QUEUED = "queued"
        STARTED = "started"
        COMPLETED = "completed"
        FAILED = "failed"
        RETRIED = "retried"
        CANCELLED = "cancelled"
        APPROVED = "approved"
        REJECTED = "rejected"
        ENQUEUE_FAILED = "enqueue_failed", "enqueue failed"
        SENT_TO_REVIEW = "sent_to_review", "sent to review"

    task = models.ForeignKey(ExecutionTask, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    ai_model = models.CharField("AI model", max_length=200, db_column="ai_model")
    message = models.TextField(blank=True)
    error = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    duration_ms = models.PositiveIntegerField("duration (ms)", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "execution_events"
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["task", "created_at"], name="exec_event_task_idx"),
            # The events list (newest first) and its filters.
            models.Index(fields=["-created_at", "-id"], name="exec_event_created_id_idx"),
            models.Index(fields=["kind", "-created_at", "-id"], name="exec_event_kind_id_idx"),
            models.Index(fields=["ai_model", "-created_at", "-id"], name="exec_event_ai_model_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} task #{self.task_id} ({self.ai_model})"

    @property
    def error_summary(self) -> str:
        return error_summary(self.error)


class ExecutionControl(models.Model):
    """The pause switch, one row: while paused no task starts (queued ones wait, running ones finish)."""

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    paused = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(null=True, blank=True)
    pulled_by = models.CharField(
        max_length=50, blank=True, help_text="The feature that paused execution (e.g. proposals); empty for a person."
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "execution switch"
        permissions = [("pause_execution", "Can pause and resume all execution")]
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="execution_control_singleton")]

    def __str__(self) -> str:
        return "paused" if self.paused else "running"


class BulkOperation(models.Model):
    """One admin action applied to a set of tasks (possibly every task matching a filter), run in chunks by a
    job so that thousands of tasks never hold a request; `processed` of `total` is its progress."""

    class Action(models.TextChoices):
        ENQUEUE = "enqueue", "Enqueue"
        RETRY = "retry", "Retry failed"
        CANCEL = "cancel", "Cancel"
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    action = models.CharField(max_length=16, choices=Action.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    task_ids = ArrayField(models.BigIntegerField(), help_text="The tasks selected when the action was taken.")
    criteria = models.TextField(blank=True, help_text="The filters the tasks were selected with.")
    comment = models.TextField(blank=True)
    total = models.PositiveIntegerField()
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0, help_text="Tasks the action applied to.")
    skipped = models.PositiveIntegerField(default=0, help_text="Tasks no longer in a state the action applies to.")
    problems = models.JSONField(default=list, blank=True, help_text="Why tasks were refused (first 100).")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rq_job_id = models.CharField("RQ job id", max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "execution_bulk_operations"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(processed__lte=models.F("total")), name="bulk_processed_lte_total"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.total} task(s) #{self.pk}"

    @property
    def percent_done(self) -> int:
        return 100 if not self.total else int(100 * self.processed / self.total)

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class ScopedHold(models.Model):
    """Stops tasks of one task type or one AI model from starting (a worker's claim skips them) while the rest
    run: e.g. a critical concern on that type or model until a reviewer resolves it. The global switch is
    `ExecutionControl`; both show in the banner."""

    source = models.CharField(max_length=64, unique=True, help_text='Who holds it, e.g. "concern:12".')
    task_type = models.ForeignKey(TaskType, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    ai_model = models.ForeignKey(
        AIModel, to_field="name", db_column="ai_model", on_delete=models.CASCADE, null=True, blank=True,
        related_name="+", verbose_name="AI model",
    )
    reason = models.TextField()
    admin_url_name = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    view_permission = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "execution_scoped_holds"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(task_type__isnull=False) | models.Q(ai_model__isnull=False),
                name="scoped_hold_has_scope",
            )
        ]

    def __str__(self) -> str:
        return self.reason


class ModelRollout(models.Model):
    """A candidate AI model taking a share of a task type's new tasks from the champion (a canary), stepped up
    by hand or on a schedule, held when its guardrails trip, and finally promoted or rolled back. Tasks that ask
    for the champion are routed here (services/rollouts.py); apps.experiments judges the arms and decides."""

    class Status(models.TextChoices):
        RUNNING = "running"
        HELD = "held", "held (champion only)"
        PROMOTED = "promoted"
        ROLLED_BACK = "rolled_back", "rolled back"

    LIVE = (Status.RUNNING, Status.HELD)

    task_type = models.ForeignKey(TaskType, on_delete=models.PROTECT, related_name="rollouts")
    champion = models.ForeignKey(
        AIModel, to_field="name", db_column="champion", on_delete=models.PROTECT, related_name="+",
        help_text="The model tasks of this type run on today.",
    )
    candidate = models.ForeignKey(
        AIModel, to_field="name", db_column="candidate", on_delete=models.PROTECT, related_name="+",
        help_text="The model being tried.",
    )
    candidate_percent = models.PositiveSmallIntegerField(
        "candidate share (%)", default=5, validators=[MaxValueValidator(100)],
        help_text="Share of the tasks that ask for the champion which run on the candidate instead.",
    )
    steps = ArrayField(
        models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(100)]),
        default=list, blank=True, help_text="The canary's shares in order, e.g. 5, 25, 50, 100.",
    )
    step_every_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Take the next step after this long if the guardrails are fine; empty: steps by hand only.",
    )
    step_changed_at = models.DateTimeField(null=True, blank=True)
    guardrails = ArrayField(
        models.CharField(max_length=32), default=list, blank=True,
        help_text="Metrics on which a significantly worse candidate is rolled back by itself (apps.experiments).",
    )
    horizon_runs = models.PositiveIntegerField(
        default=1000, validators=[MinValueValidator(20)],
        help_text="Finished candidate runs the rollout plans for; guardrails are looked at as they accumulate.",
    )
    looks_planned = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Guardrail looks over the horizon, each at alpha / (looks x guardrails): peeking costs nothing.",
    )
    looks_done = models.PositiveSmallIntegerField(default=0)
    alpha = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.05"),
                                validators=[MinValueValidator(Decimal("0.001")), MaxValueValidator(Decimal("0.2"))])
    judged_at = models.DateTimeField(null=True, blank=True, help_text="Last guardrail look.")
    analysis_since = models.DateTimeField(
        null=True, blank=True, help_text="Arms count tasks created since then (a resume starts afresh); empty: all.",
    )
    salt = models.CharField(max_length=32, editable=False, help_text="Fixed at creation: keeps assignment sticky.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    status_reason = models.TextField(blank=True)
    previous_default = models.ForeignKey(
        AIModel, to_field="name", db_column="previous_default", on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", help_text="The task type's default model before a promotion, restored by a rollback.",
    )
    decided_at = models.DateTimeField(null=True, blank=True, help_text="Last promotion or rollback.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        db_table = "execution_model_rollouts"
        ordering = ["-created_at", "-id"]
        permissions = [("decide_modelrollout", "Can step, hold, promote and roll back model rollouts")]
        constraints = [
            models.CheckConstraint(condition=models.Q(candidate_percent__lte=100), name="rollout_percent_range"),
            models.CheckConstraint(condition=~models.Q(champion=models.F("candidate")), name="rollout_two_models"),
            models.UniqueConstraint(fields=["task_type"], condition=models.Q(status__in=["running", "held"]),
                                    name="rollout_one_live_per_type"),
        ]

    def __str__(self) -> str:
        return f"{self.task_type_id and self.task_type}: {self.champion_id} -> {self.candidate_id}"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE
