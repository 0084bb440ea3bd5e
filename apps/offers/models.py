from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.text import slugify
from simple_history.models import HistoricalRecords

from apps.core.money import CURRENCY_CHOICES, amount_problems
from apps.execution.models import AIModel, TaskType

# Fields whose change must reach Stripe; any of them changing makes a new `version` to publish.
STRIPE_FIELDS = ("name", "description", "price", "currency", "billing", "is_active", "task_type_id", "ai_model_id")


class OfferTemplate(models.Model):
    """A service customers can buy, delivered by tasks of one type on one AI model; published as a Stripe
    Product with one current Price."""

    class Billing(models.TextChoices):
        ONE_TIME = "one_time", "one-time"
        MONTHLY = "month", "monthly"
        YEARLY = "year", "yearly"

    class SyncState(models.TextChoices):
        DRAFT = "draft"
        PUBLISHING = "publishing"
        PUBLISHED = "published"
        FAILED = "failed"

    name = models.CharField(max_length=250, help_text="What customers see as the product name.")
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(help_text="Customer-facing description, shown on the listing.")
    task_type = models.ForeignKey(TaskType, on_delete=models.PROTECT, related_name="offers",
                                  help_text="The task type that delivers this service.")  # fmt: skip
    ai_model = models.ForeignKey(
        AIModel, on_delete=models.PROTECT, to_field="name", db_column="ai_model", related_name="offers",
        verbose_name="default AI model",
    )  # fmt: skip
    price = models.DecimalField(max_digits=12, decimal_places=3, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="usd")
    billing = models.CharField(max_length=16, choices=Billing.choices, default=Billing.ONE_TIME)
    is_active = models.BooleanField("active", default=True, help_text="Inactive offers are archived on Stripe.")

    stripe_product = models.ForeignKey("djstripe.Product", on_delete=models.SET_NULL, null=True, blank=True,
                                       related_name="+")  # fmt: skip
    stripe_price = models.ForeignKey("djstripe.Price", on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")  # fmt: skip
    version = models.PositiveIntegerField(default=1, help_text="Goes up whenever something Stripe shows changes.")
    published_version = models.PositiveIntegerField(null=True, blank=True)
    sync_state = models.CharField(max_length=16, choices=SyncState.choices, default=SyncState.DRAFT)
    sync_error = models.TextField(blank=True, help_text="Stripe's last error, verbatim.")
    synced_at = models.DateTimeField(null=True, blank=True, help_text="Last successful publish.")
    publish_request = models.CharField(
        max_length=32, blank=True, help_text="Names one publish request in its Stripe idempotency keys."
    )
    publish_job_id = models.CharField(max_length=64, blank=True, help_text="The RQ job of the current publish.")
    publish_started_at = models.DateTimeField(null=True, blank=True, help_text="When that job last began running.")
    publish_recoveries = models.PositiveSmallIntegerField(default=0, help_text="Restarts by the sweeper so far.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        permissions = [("publish_offertemplate", "Can publish offers to Stripe")]
        constraints = [
            models.CheckConstraint(condition=models.Q(price__gte=0), name="offer_price_not_negative"),
            models.CheckConstraint(condition=models.Q(billing__in=["one_time", "month", "year"]), name="offer_billing"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        if not self.slug and self.name:
            self.slug = slugify(self.name)[:100]
        problems = amount_problems(self.price, self.currency)
        if problems:
            raise ValidationError(problems)

    @property
    def is_up_to_date(self) -> bool:
        return self.published_version == self.version and self.sync_state == self.SyncState.PUBLISHED


class OfferPrice(models.Model):
    """A further price on an offer's Stripe product besides its current one: a price experiment's variant, or
    a former default kept "warm" (active on Stripe, so checkouts and a rollback can use it) until `keep_until`.
    The publish job creates each one's Stripe Price and archives it once `keep_until` has passed."""

    offer = models.ForeignKey(OfferTemplate, on_delete=models.CASCADE, related_name="extra_prices")
    label = models.CharField(max_length=100, help_text="What it is for, e.g. 'experiment spring-price: B'.")
    amount = models.DecimalField(max_digits=12, decimal_places=3, validators=[MinValueValidator(0)])
    stripe_price = models.ForeignKey("djstripe.Price", on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")  # fmt: skip
    keep_until = models.DateTimeField(
        null=True, blank=True, help_text="Empty: kept active. Past: archived on Stripe by the next publish."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        db_table = "offers_extra_price"
        ordering = ["offer", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gte=0), name="offer_price_amount_positive")]

    def __str__(self) -> str:
        return f"{self.offer_id and self.offer}: {self.label} at {self.amount}"
