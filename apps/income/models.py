from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q, Sum
from simple_history.models import HistoricalRecords

from apps.core.money import amount_display
from apps.execution.models import AIModel, ExecutionTask, TaskType
from apps.offers.models import OfferTemplate

# A settlement note starting so says there is no balance transaction to read (e.g. an invoice paid out of band).
NO_SETTLEMENT = "none: "


class IncomeEventQuerySet(models.QuerySet):
    def in_period(self, since, until):
        return self.filter(occurred_at__gte=since, occurred_at__lt=until)

    def unattributed(self):
        return self.filter(ai_model__isnull=True, task_type__isnull=True)

    def from_stripe(self):
        return self.exclude(kind=IncomeEvent.Kind.MANUAL)

    def settlement_unknown(self):
        """Stripe rows whose balance transaction (fee, net, settlement currency) is not read yet."""
        return self.from_stripe().filter(settlement_currency="").exclude(settlement_note__startswith=NO_SETTLEMENT)

    def total(self) -> Decimal:
        return self.aggregate(total=Sum("amount"))["total"] or Decimal("0")


class IncomeEvent(models.Model):
    """One movement of money in the ledger: a Stripe payment, refund, reversed refund or dispute movement (each
    recorded once, whatever the order or number of Stripe's deliveries), or a manual entry for money outside
    Stripe. `amount` is gross, in the currency the customer paid; fee, net and the settlement currency come from
    Stripe's balance transaction. Money is never edited: corrections are new rows."""

    class Kind(models.TextChoices):
        PAYMENT = "payment"
        REFUND = "refund"
        REFUND_FAILURE = "refund_failure", "refund reversed"
        DISPUTE = "dispute"
        MANUAL = "manual"

    class AttributionSource(models.TextChoices):
        NONE = "", "not attributed"
        METADATA = "metadata"
        INVOICE_LINE = "invoice_line", "invoice line"
        PRICE = "price"
        PAYMENT = "payment", "its payment"
        MANUAL = "manual"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(
        max_digits=16, decimal_places=3, help_text="In the currency's units (not cents); refunds are negative."
    )
    currency = models.CharField(max_length=3, help_text="ISO code, lower case, as Stripe writes it.")
    occurred_at = models.DateTimeField()
    stripe_event_id = models.CharField(  # noqa: DJ001 - NULL for manual entries: no Stripe event
        "Stripe event", max_length=255, null=True, blank=True,
        help_text="The delivery that made this row (a dispute event can make two: withdrawal and reinstatement).",
    )  # fmt: skip
    stripe_object_id = models.CharField(
        "Stripe object", max_length=255, blank=True,
        help_text="The PaymentIntent of a payment (the invoice if paid out of band), the Charge of a refund, the "
        "Dispute of a dispute movement.",
    )  # fmt: skip
    payment_intent_id = models.CharField("PaymentIntent", max_length=255, blank=True, db_index=True)
    charge_id = models.CharField("Charge", max_length=255, blank=True, db_default="")

    # From the balance transaction: what reached the Stripe balance, in the settlement currency.
    balance_transaction_id = models.CharField("balance transaction", max_length=255, blank=True, db_default="")
    settlement_currency = models.CharField(max_length=3, blank=True, db_default="",
                                           help_text="Empty until the fee is known.")  # fmt: skip
    settlement_amount = models.DecimalField("gross settled", max_digits=16, decimal_places=3, null=True, blank=True)
    fee = models.DecimalField(
        max_digits=16, decimal_places=3, null=True, blank=True,
        help_text="Stripe's fees in the settlement currency (negative when a fee is returned).",
    )  # fmt: skip
    net = models.DecimalField(max_digits=16, decimal_places=3, null=True, blank=True,
                              help_text="Gross settled minus fees, in the settlement currency.")  # fmt: skip
    exchange_rate = models.DecimalField(
        max_digits=24, decimal_places=12, null=True, blank=True,
        help_text="Settlement currency per unit of the customer's currency; empty when they are the same.",
    )  # fmt: skip
    settlement_note = models.CharField(
        max_length=255, blank=True, db_default="",
        help_text="Why fee and net are not known yet ('none:' when no balance transaction exists, e.g. paid out "
        "of band).",
    )  # fmt: skip

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
    attribution_source = models.CharField(max_length=16, choices=AttributionSource.choices, blank=True, db_default="")
    unattributed_reason = models.CharField(max_length=255, blank=True, db_default="",
                                           help_text="Why no model or task type.")  # fmt: skip
    experiment = models.CharField(max_length=100, blank=True, db_default="",
                                  help_text="The price experiment whose checkout made this payment (or its payment).")
    experiment_variant = models.CharField(max_length=100, blank=True, db_default="")
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
            models.Index(fields=["stripe_event_id"], name="income_stripe_event_idx"),
            # The ledger's search by charge id (the other ids it searches have an index of their own).
            models.Index(fields=["charge_id"], name="income_charge_idx", condition=~Q(charge_id="")),
            # A price experiment's payments (apps.experiments); refunds join them by payment_intent_id.
            models.Index(fields=["experiment", "experiment_variant"], name="income_experiment_idx",
                         condition=~Q(experiment="")),
            # The ledger list (newest first) and its filters.
            models.Index(fields=["-occurred_at", "-id"], name="income_occurred_id_idx"),
            models.Index(fields=["kind", "-occurred_at", "-id"], name="income_kind_idx"),
            models.Index(fields=["currency", "-occurred_at", "-id"], name="income_currency_idx"),
            models.Index(fields=["ai_model", "-occurred_at", "-id"], name="income_ai_model_idx"),
            models.Index(fields=["task_type", "-occurred_at", "-id"], name="income_task_type_idx"),
            models.Index(
                fields=["-occurred_at", "-id"],
                name="income_unattributed_idx",
                condition=Q(ai_model__isnull=True, task_type__isnull=True),
            ),  # fmt: skip
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["payment", "refund", "refund_failure", "dispute", "manual"]),
                name="income_kind_valid_v2",
            ),
            models.CheckConstraint(
                condition=~Q(kind="refund_failure") | Q(amount__gt=0, stripe_event_id__isnull=False),
                name="income_refund_failure_positive",
            ),
            models.CheckConstraint(
                condition=~Q(kind="dispute") | (~Q(amount=0) & Q(stripe_event_id__isnull=False)),
                name="income_dispute_from_stripe",
            ),
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
            # A refund delivery moves a charge's refunded total once; a balance transaction is booked once.
            models.UniqueConstraint(
                fields=["stripe_event_id"],
                condition=Q(kind__in=["refund", "refund_failure"]),
                name="income_one_refund_row_per_event",
            ),  # fmt: skip
            models.UniqueConstraint(
                fields=["balance_transaction_id"],
                condition=~Q(balance_transaction_id=""),
                name="income_one_row_per_balance_transaction",
            ),  # fmt: skip
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {amount_display(self.amount, self.currency)}"

    @property
    def is_attributed(self) -> bool:
        return self.ai_model_id is not None or self.task_type_id is not None

    @property
    def fee_in_currency(self) -> Decimal | None:
        """Stripe's fee in the customer's currency, so that gross and net compare in one currency."""
        if self.fee is None:
            return None
        return self.fee / self.exchange_rate if self.exchange_rate else self.fee


class StripeObservation(models.Model):
    """What a delivery said about an object that books no money by itself but decides what is booked: a
    charge's refunded total, a refund's status, an invoice's lines. Deliveries arrive in any order; the ledger is
    recomputed from all observations so far, so the order does not change the result."""

    class Kind(models.TextChoices):
        REFUNDED_TOTAL = "refunded_total", "charge refunded total"
        REFUND = "refund"
        INVOICE = "invoice"

    stripe_event_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    object_id = models.CharField(max_length=255, help_text="The charge (refunds) or PaymentIntent (invoices).")
    item_id = models.CharField(max_length=255, blank=True, help_text="The refund, for refund observations.")
    observed_at = models.DateTimeField(help_text="When Stripe created the event.")
    data = models.JSONField(default=dict)

    class Meta:
        db_table = "income_stripe_observations"
        indexes = [models.Index(fields=["object_id", "kind"], name="income_observation_object_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_event_id", "kind", "object_id", "item_id"], name="income_observation_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.object_id} ({self.stripe_event_id})"


class RollupGrain(models.TextChoices):
    HOUR = "hour"
    DAY = "day"


class TaskRollup(models.Model):
    """Finished tasks per UTC hour and per UTC day x `ai_model` x task type, kept exact by database triggers on
    `execution_tasks` (apps/income/rollups.py) so that ROI, the dashboard and drift read a few thousand rows, not
    every task. Durations are kept as counts per histogram bucket (`rollups.DURATION_BUCKETS`): buckets add up
    across rows, so a percentile over any set of rows is exact to one bucket, never an average of averages."""

    grain = models.CharField(max_length=4, choices=RollupGrain.choices)
    period = models.DateTimeField(help_text="Start of the UTC hour or day.")
    ai_model = models.CharField(max_length=200)
    task_type = models.ForeignKey(
        TaskType, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    runs = models.IntegerField(default=0, help_text="Tasks that ran (attempts > 0) and finished in the period.")
    successes = models.IntegerField(default=0)
    failures = models.IntegerField(default=0)
    retries = models.IntegerField(default=0, help_text="Attempts beyond the first.")
    duration_count = models.IntegerField(default=0, help_text="Runs with a measured duration.")
    duration_sum_ms = models.BigIntegerField(default=0)
    duration_max_ms = models.BigIntegerField(
        default=0, help_text="Highest duration seen; a retracted run does not lower it until a rebuild."
    )
    duration_hist = ArrayField(models.IntegerField(), help_text="Runs per duration bucket.")
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=20, decimal_places=6, default=Decimal("0"))
    cost_unknown = models.IntegerField(default=0, help_text="Finished tasks without a known cost.")

    class Meta:
        db_table = "income_task_rollup"
        constraints = [
            models.UniqueConstraint(fields=["grain", "period", "ai_model", "task_type"], name="income_task_rollup_key")
        ]
        indexes = [models.Index(fields=["grain", "task_type", "period"], name="income_task_rollup_type_idx")]

    def __str__(self) -> str:
        return f"{self.grain} {self.period:%Y-%m-%d %H:%M} {self.ai_model} {self.task_type_id}: {self.runs} run"


class IncomeRollup(models.Model):
    """Income per UTC hour and per UTC day x currency x `ai_model` x task type (empty = not attributed), kept
    exact by the same design: database triggers on `income_events`."""

    grain = models.CharField(max_length=4, choices=RollupGrain.choices)
    period = models.DateTimeField(help_text="Start of the UTC hour or day.")
    currency = models.CharField(max_length=3)
    ai_model = models.CharField(max_length=200, null=True)  # noqa: DJ001 - NULL as in income_events: not attributed
    task_type = models.ForeignKey(
        TaskType, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, null=True, related_name="+"
    )
    amount = models.DecimalField(max_digits=20, decimal_places=3, default=Decimal("0"))
    net = models.DecimalField(
        max_digits=24, decimal_places=9, default=Decimal("0"),
        help_text="Amount less Stripe's fees converted back to this currency (the amount while a fee is unknown).",
    )  # fmt: skip
    fee_unknown = models.IntegerField(default=0, help_text="Stripe rows whose fee is not read yet.")
    events = models.IntegerField(default=0)

    class Meta:
        db_table = "income_rollup"
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "period", "currency", "ai_model", "task_type"], name="income_rollup_key",
                nulls_distinct=False,
            )
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.grain} {self.period:%Y-%m-%d %H:%M} {self.currency} {self.ai_model} {self.task_type_id}"


class RollupRebuild(models.Model):
    """One run of `manage.py rollups_rebuild`: rebuilt a UTC day at a time, so that a stopped run resumes at
    `next_day` and a finished one can be run again with the same result."""

    first_day = models.DateField()
    last_day = models.DateField()
    next_day = models.DateField(help_text="The first day not rebuilt yet.")
    days_done = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "income_rollup_rebuilds"

    def __str__(self) -> str:
        return f"rollup rebuild {self.first_day}..{self.last_day} ({self.days_done} days done)"

    @property
    def days_total(self) -> int:
        return (self.last_day - self.first_day).days + 1


class IncomeSettlementDailyRollup(models.Model):
    """What reached the Stripe balance per UTC day, settlement currency, `ai_model` and task type: gross, fees
    and net as Stripe's balance transactions say (rows whose fee is known), kept by the same trigger."""

    day = models.DateField()
    settlement_currency = models.CharField(max_length=3)
    ai_model = models.CharField(max_length=200, null=True)  # noqa: DJ001 - NULL: not attributed
    task_type = models.ForeignKey(
        TaskType, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, null=True, related_name="+"
    )
    gross = models.DecimalField(max_digits=20, decimal_places=3, default=Decimal("0"))
    fee = models.DecimalField(max_digits=20, decimal_places=3, default=Decimal("0"))
    net = models.DecimalField(max_digits=20, decimal_places=3, default=Decimal("0"))
    events = models.IntegerField(default=0)

    class Meta:
        db_table = "income_settlement_daily"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "settlement_currency", "ai_model", "task_type"], name="income_settlement_daily_key",
                nulls_distinct=False,
            )
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.day} {self.settlement_currency} {self.ai_model} {self.task_type_id}: {self.net}"


class StrandedWebhook(models.Model):
    """A verified delivery whose recording job used up its RQ retries. Stripe had its 200 and will not send it
    again, so the scheduler retries it with growing delays until it is recorded; until then it is listed in the
    admin as something nobody may ignore."""

    trigger = models.OneToOneField("djstripe.WebhookEventTrigger", on_delete=models.CASCADE, related_name="+")
    stripe_event_id = models.CharField("Stripe event", max_length=255, blank=True)
    event_type = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Scheduler retries so far (after RQ's own).")
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    stranded_at = models.DateTimeField(auto_now_add=True)
    recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "income_stranded_webhooks"
        ordering = ["-stranded_at", "-id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="income_stranded_due_idx", condition=Q(recorded_at=None))
        ]

    def __str__(self) -> str:
        return f"{self.event_type or 'event'} {self.stripe_event_id} (webhook {self.trigger_id})"


class ReconciliationRun(models.Model):
    """One comparison of the ledger with Stripe's balance transactions for one UTC day."""

    class Outcome(models.TextChoices):
        RUNNING = "running"
        MATCHED = "matched"
        DIFFERENCES = "differences"
        FAILED = "failed", "could not run"

    day = models.DateField()
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    stripe_transactions = models.PositiveIntegerField(default=0)
    ledger_rows = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        db_table = "income_reconciliation_runs"
        ordering = ["-day", "-started_at"]
        indexes = [models.Index(fields=["-day", "-started_at"], name="income_reconciliation_day_idx")]

    def __str__(self) -> str:
        return f"Reconciliation of {self.day}: {self.get_outcome_display()}"


class ReconciliationDifference(models.Model):
    """One way the ledger and Stripe disagree about a day's money."""

    class Kind(models.TextChoices):
        MISSING_IN_LEDGER = "missing_in_ledger", "in Stripe, not in the ledger"
        MISSING_IN_STRIPE = "missing_in_stripe", "in the ledger, not in Stripe"
        AMOUNT = "amount", "amount differs"
        FEE = "fee", "fee differs"

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="differences")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    balance_transaction_id = models.CharField("balance transaction", max_length=255, blank=True)
    source_id = models.CharField("Stripe source", max_length=255, blank=True, help_text="Charge, refund or dispute.")
    ledger_row = models.ForeignKey(IncomeEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    currency = models.CharField(max_length=3, blank=True, help_text="Settlement currency.")
    stripe_value = models.DecimalField(max_digits=16, decimal_places=3, null=True, blank=True)
    ledger_value = models.DecimalField(max_digits=16, decimal_places=3, null=True, blank=True)
    detail = models.CharField(max_length=255, blank=True)

    class Meta:
        db_table = "income_reconciliation_differences"
        ordering = ["run", "kind", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.balance_transaction_id or self.ledger_row_id}"
