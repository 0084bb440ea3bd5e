from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from apps.offers.models import OfferPrice, OfferTemplate


class PriceExperiment(models.Model):
    """An A/B test of prices on one published offer: each variant a Stripe Price on the offer's product, each
    subject (customer or session) assigned to one variant for good; conversions and revenue come from the income
    ledger (payments carry the experiment and variant in their metadata)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "draft (prices publishing)"
        RUNNING = "running"
        PROMOTED = "promoted"
        ROLLED_BACK = "rolled_back", "rolled back"

    class Metric(models.TextChoices):
        CONVERSION = "conversion", "conversion rate"
        REVENUE = "revenue", "revenue per exposure"

    key = models.SlugField(max_length=100, unique=True, help_text="Names the experiment in the API and metadata.")
    offer = models.ForeignKey(OfferTemplate, on_delete=models.PROTECT, related_name="experiments")
    hypothesis = models.TextField(blank=True)
    primary_metric = models.CharField(max_length=16, choices=Metric.choices, default=Metric.CONVERSION)
    baseline_rate = models.DecimalField(
        "expected conversion rate", max_digits=5, decimal_places=4, default=Decimal("0.05"),
        validators=[MinValueValidator(Decimal("0.0001")), MaxValueValidator(Decimal("0.9999"))],
        help_text="Today's conversion rate, e.g. 0.05: sets how many exposures the test needs.",
    )
    minimum_effect = models.DecimalField(
        "smallest change worth detecting", max_digits=5, decimal_places=3, default=Decimal("0.20"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("10"))],
        help_text="Relative, e.g. 0.20 for a 20 % change in conversion.",
    )
    alpha = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.05"),
                                validators=[MinValueValidator(Decimal("0.001")), MaxValueValidator(Decimal("0.2"))])
    power = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.80"),
                                validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(Decimal("0.99"))])
    horizon_per_variant = models.PositiveIntegerField(
        help_text="Exposures each variant needs before the primary metric is judged (fixed horizon)."
    )
    guardrail_looks = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Refund and dispute rates are looked at this often over the horizon, each at alpha / (looks x 2).",
    )
    salt = models.CharField(max_length=32, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    status_reason = models.TextField(blank=True)
    winner = models.ForeignKey("Variant", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                               help_text="The variant whose price is the offer's after a decision.")
    started_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True, help_text="Last promotion or rollback.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        db_table = "experiments_price_experiment"
        ordering = ["-created_at", "-id"]
        permissions = [
            ("decide_priceexperiment", "Can start, promote and roll back price experiments"),
            ("assign_priceexperiment", "Can assign subjects to price experiments (the storefront's API token)"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["offer"], condition=models.Q(status__in=["draft", "running"]),
                                    name="price_experiment_one_live_per_offer"),
        ]

    def __str__(self) -> str:
        return self.key


class Variant(models.Model):
    """One price of a price experiment, with its share of the traffic."""

    experiment = models.ForeignKey(PriceExperiment, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(max_length=32, help_text="e.g. A, B: sent in the checkout's metadata.")
    price = models.DecimalField(max_digits=12, decimal_places=3, validators=[MinValueValidator(0)])
    weight = models.PositiveSmallIntegerField(default=50, validators=[MinValueValidator(1)])
    is_control = models.BooleanField(default=False, help_text="The offer's price when the experiment began.")
    offer_price = models.ForeignKey(OfferPrice, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                    help_text="Its price on the offer's Stripe product.")  # fmt: skip

    class Meta:
        db_table = "experiments_variant"
        ordering = ["experiment", "-is_control", "key"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "key"], name="variant_key_unique"),
            models.UniqueConstraint(fields=["experiment"], condition=models.Q(is_control=True),
                                    name="variant_one_control"),
            models.CheckConstraint(condition=models.Q(weight__gte=1), name="variant_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.price})"

    @property
    def stripe_price_id(self) -> str | None:
        """Stripe's id of its price (price_...); `offer_price.stripe_price_id` is dj-stripe's row id, not Stripe's."""
        if self.offer_price_id is None or self.offer_price.stripe_price_id is None:
            return None
        return self.offer_price.stripe_price.id


class Exposure(models.Model):
    """A subject shown a variant, recorded once: the denominator of every rate. Its checkout is reused while
    Stripe keeps it open."""

    experiment = models.ForeignKey(PriceExperiment, on_delete=models.CASCADE, related_name="exposures")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="exposures")
    subject = models.CharField(max_length=200)
    checkout_session_id = models.CharField(max_length=255, blank=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    checkout_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "experiments_exposure"
        constraints = [models.UniqueConstraint(fields=["experiment", "subject"], name="exposure_once_per_subject")]
        indexes = [models.Index(fields=["experiment", "variant"], name="exposure_variant_idx")]

    def __str__(self) -> str:
        return f"{self.subject} saw {self.variant_id}"
