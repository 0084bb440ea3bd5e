from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q, Sum
from simple_history.models import HistoricalRecords

from apps.execution.models import AIModel, ExecutionTask, TaskType
from apps.offers.models import OfferTemplate


class IncomeEventQuerySet(models.QuerySet):
    def in_period(self, since, until):
        return self.filter(occurred_at__gte=since, occurred_at__lt=until)

    def unattributed(self):
        return self.filter(ai_model__isnull=True, task_type__isnull=True)

    def total(self) -> Decimal:
        return self.aggregate(total=Sum("amount"))["total"] or Decimal("0")


class IncomeEvent(models.Model):
    """One movement of money in the ledger: a Stripe payment or refund (recorded once per Stripe event), or a
    manual entry for money outside Stripe. Rows are never edited: corrections are new manual entries."""

    class Kind(models.TextChoices):
        PAYMENT = "payment"
        REFUND = "refund"
        MANUAL = "manual"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount = models.DecimalField(
        max_digits=16, decimal_places=3, help_text="In the currency's units (not cents); refunds are negative."
    )
    currency = models.CharField(max_length=3, help_text="ISO code, lower case, as Stripe writes it.")
    occurred_at = models.DateTimeField()
    stripe_event_id = models.CharField("Stripe event", max_length=255, null=True, blank=True, unique=True)
    stripe_object_id = models.CharField(
        "Stripe object", max_length=255, blank=True, help_text="The PaymentIntent of a payment, the Charge of a refund."
    )
    payment_intent_id = models.CharField("PaymentIntent", max_length=255, blank=True, db_index=True)

    offer = models.ForeignKey(OfferTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="income")
    task = models.ForeignKey(
        ExecutionTask, on_delete=models.PROTECT, null=True, blank=True, related_name="income", db_index=False
    )
    ai_model = models.ForeignKey(
        AIModel, on_delete=models.PROTECT, to_field="name", db_column="ai_model", null=True, blank=True,
        related_name="income", verbose_name="AI model", db_index=False,
    )  # fmt: skip
    task_type = models.ForeignKey(
        TaskType, on_delete=models.PROTECT, null=True, blank=True, related_name="income", db_index=False
    )
    metadata = models.JSONField(default=dict, blank=True, help_text="The Stripe object's metadata, as received.")
    reason = models.TextField(blank=True, help_text="Why a manual entry was made (required for manual entries).")
    webhook_trigger = models.ForeignKey(
        "djstripe.WebhookEventTrigger", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()
    objects = IncomeEventQuerySet.as_manager()

    class Meta:
        db_table = "income_events"
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["task"], name="income_task_idx", condition=Q(task__isnull=False)),
            models.Index(fields=["ai_model", "task_type", "-occurred_at"], name="income_attribution_idx"),
            models.Index(fields=["stripe_object_id"], name="income_stripe_object_idx"),
            # The ledger list (newest first) and its filters.
            models.Index(fields=["-occurred_at", "-id"], name="income_occurred_id_idx"),
            models.Index(fields=["kind", "-occurred_at", "-id"], name="income_kind_idx"),
            models.Index(fields=["currency", "-occurred_at", "-id"], name="income_currency_idx"),
            models.Index(fields=["ai_model", "-occurred_at", "-id"], name="income_ai_model_idx"),
            models.Index(fields=["task_type", "-occurred_at", "-id"], name="income_task_type_idx"),
            models.Index(
                fields=["-occurred_at", "-id"], name="income_unattributed_idx",
                condition=Q(ai_model__isnull=True, task_type__isnull=True),
            ),  # fmt: skip
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["payment", "refund", "manual"]), name="income_kind_valid"),
            models.CheckConstraint(
                condition=~Q(kind="payment") | Q(amount__gt=0, stripe_event_id__isnull=False),
                name="income_payment_positive",
            ),
            models.CheckConstraint(
                condition=~Q(kind="refund") | Q(amount__lt=0, stripe_event_id__isnull=False),
                name="income_refund_negative",
            ),
            models.CheckConstraint(
                condition=~Q(kind="manual") | (Q(stripe_event_id__isnull=True) & ~Q(reason="") & ~Q(amount=0)),
                name="income_manual_has_reason",
            ),
            # Stripe could describe one payment in several events; its money still counts once.
            models.UniqueConstraint(
                fields=["stripe_object_id"], condition=Q(kind="payment"), name="income_one_row_per_payment"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency.upper()}"

    @property
    def is_attributed(self) -> bool:
        return self.ai_model_id is not None or self.task_type_id is not None


class TaskDailyRollup(models.Model):
    """Finished tasks per UTC day, `ai_model` and task type, kept exact by database triggers on
    `execution_tasks` (migration 0002) so that ROI reads a few thousand rows, not every task."""

    day = models.DateField()
    ai_model = models.CharField(max_length=200)
    task_type = models.ForeignKey(
        TaskType, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    tasks_run = models.IntegerField(default=0)
    tasks_succeeded = models.IntegerField(default=0)
    cost = models.DecimalField(max_digits=20, decimal_places=6, default=Decimal("0"))
    cost_unknown = models.IntegerField(default=0, help_text="Finished tasks without a known cost.")

    class Meta:
        db_table = "income_task_daily"
        constraints = [models.UniqueConstraint(fields=["day", "ai_model", "task_type"], name="income_task_daily_key")]

    def __str__(self) -> str:
        return f"{self.day} {self.ai_model} {self.task_type_id}: {self.tasks_run} run"


class IncomeDailyRollup(models.Model):
    """Income per UTC day, currency, `ai_model` and task type (empty = not attributed), kept exact by
    database triggers on `income_events` (migration 0002)."""

    day = models.DateField()
    currency = models.CharField(max_length=3)
    ai_model = models.CharField(max_length=200, null=True)  # noqa: DJ001 - NULL as in income_events: not attributed
    task_type = models.ForeignKey(
        TaskType, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, null=True, related_name="+"
    )
    amount = models.DecimalField(max_digits=20, decimal_places=3, default=Decimal("0"))
    events = models.IntegerField(default=0)

    class Meta:
        db_table = "income_daily"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "currency", "ai_model", "task_type"], name="income_daily_key", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.currency} {self.ai_model} {self.task_type_id}: {self.amount}"
