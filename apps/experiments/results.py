"""A price experiment's figures per variant, from its exposures and the income ledger, and the plain verdict.

Conversions are subjects with a payment whose metadata names the experiment and variant; revenue is everything
the ledger booked on those payments (refunds, refund reversals and disputes included), in the offer's currency.
Revenue per exposure counts every exposed subject, the ones who did not buy at 0."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import Count

from .models import Exposure, PriceExperiment, Variant
from .stats import Comparison, Moments, SampleRatio, means_compare, proportions_compare, sample_ratio_check

# Per variant: buyers, their net money (refunds and disputes included) and sums for Welch's test. `cohort` limits
# the subjects to each variant's first N exposures (a look's fixed sample); without it every exposure counts.
MONEY_SQL = """
WITH cohort AS (
    SELECT x.subject, v.key AS variant
    FROM (SELECT subject, variant_id,
                 ROW_NUMBER() OVER (PARTITION BY variant_id ORDER BY created_at, id) AS position
          FROM experiments_exposure WHERE experiment_id = %(experiment)s) x
    JOIN experiments_variant v ON v.id = x.variant_id
    WHERE %(cohort)s::int IS NOT NULL AND x.position <= %(cohort)s::int
), payments AS (
    SELECT p.payment_intent_id, p.experiment_variant AS variant,
           COALESCE(NULLIF(p.metadata->>'subject', ''), p.payment_intent_id) AS subject
    FROM income_events p
    WHERE p.experiment = %(key)s AND p.experiment <> '' AND p.kind = 'payment' AND p.payment_intent_id <> ''
      AND (%(cohort)s::int IS NULL OR EXISTS (SELECT 1 FROM cohort c WHERE c.subject = p.metadata->>'subject'
                                                                       AND c.variant = p.experiment_variant))
), per_subject AS (
    SELECT p.variant, p.subject, SUM(e.amount) AS net,
           BOOL_OR(e.kind = 'refund') AS refunded, BOOL_OR(e.kind = 'dispute') AS disputed
    FROM payments p JOIN income_events e ON e.payment_intent_id = p.payment_intent_id AND e.currency = %(currency)s
    GROUP BY p.variant, p.subject
)
SELECT variant, COUNT(*), COALESCE(SUM(net), 0), COALESCE(SUM(net * net), 0),
       COUNT(*) FILTER (WHERE refunded), COUNT(*) FILTER (WHERE disputed)
FROM per_subject GROUP BY variant
"""
GUARDRAIL_METRICS = 2  # refund rate, dispute rate


@dataclass
class VariantFigures:
    variant: Variant
    exposures: int = 0
    conversions: int = 0
    revenue: Decimal = Decimal("0")
    revenue_squares: Decimal = Decimal("0")
    refunded: int = 0
    disputed: int = 0
    conversion: Comparison | None = None  # against the control (None for the control itself)
    revenue_per_exposure: Comparison | None = None
    refund_rate: Comparison | None = None
    dispute_rate: Comparison | None = None

    @property
    def conversion_rate(self) -> float | None:
        return self.conversions / self.exposures if self.exposures else None

    @property
    def mean_revenue(self) -> float | None:
        return float(self.revenue) / self.exposures if self.exposures else None

    @property
    def refund_share(self) -> float | None:
        return self.refunded / self.conversions if self.conversions else None

    @property
    def moments(self) -> Moments:
        return Moments(self.exposures, float(self.revenue), float(self.revenue_squares))


@dataclass
class Results:
    experiment: PriceExperiment
    variants: list[VariantFigures]
    sample_ratio: SampleRatio | None
    verdict: str
    tone: str  # "wait", "good", "stop", "neutral"
    winner: Variant | None = None  # the variant the verdict recommends
    guardrail_alpha: float = 0.0
    primary_alpha: float = 0.0
    stops: list[str] = field(default_factory=list)
    look: int = 0  # guardrail looks reached: each tenth (of guardrail_looks) of the horizon in every variant
    cohort: int = 0  # the look's fixed sample: each variant's first `cohort` exposures
    judged: list[VariantFigures] = field(default_factory=list)  # the figures the verdict is judged on

    @property
    def control(self) -> VariantFigures:
        return self.variants[0]

    @property
    def smallest_exposures(self) -> int:
        return min(figures.exposures for figures in self.variants)


def price_experiment_results(*, experiment: PriceExperiment) -> Results:
    """Every figure and test the experiment page shows. The table is everything so far (for reading); the verdict
    is judged on a look's fixed sample: look k of L (k = each 1/L of the horizon reached by every variant) takes
    each variant's first k x horizon / L exposures, so however often the page is read there are at most L looks,
    and the primary metric is judged once, on the first `horizon_per_variant` exposures (fixed horizon)."""
    variants = list(experiment.variants.order_by("-is_control", "key"))
    rows = _figures(experiment, variants, cohort=None)
    if len(rows) < 2 or not rows[0].variant.is_control:
        return Results(experiment, rows, None, "no comparison: the experiment needs a control and another variant",
                       "wait")  # fmt: skip
    treatments = len(rows) - 1
    primary_alpha = float(experiment.alpha) / treatments  # Bonferroni over the treatments
    looks = experiment.guardrail_looks
    guardrail_alpha = float(experiment.alpha) / (treatments * looks * GUARDRAIL_METRICS)  # ... and looks, metrics
    _compare(rows, primary_alpha, guardrail_alpha)
    sample_ratio = sample_ratio_check(observed=[row.exposures for row in rows], weights=[v.weight for v in variants])
    results = Results(experiment, rows, sample_ratio, "", "wait", guardrail_alpha=guardrail_alpha,
                      primary_alpha=primary_alpha)  # fmt: skip
    horizon = experiment.horizon_per_variant
    results.look = min(looks, results.smallest_exposures * looks // horizon) if horizon else 0
    if results.look:
        results.cohort = results.look * horizon // looks
        results.judged = _figures(experiment, variants, cohort=results.cohort)
        _compare(results.judged, primary_alpha, guardrail_alpha)
    results.verdict, results.tone, results.winner = _verdict(results)
    return results


def _figures(experiment: PriceExperiment, variants: list[Variant], *, cohort: int | None) -> list[VariantFigures]:
    figures = {variant.key: VariantFigures(variant) for variant in variants}
    counts = Exposure.objects.filter(experiment=experiment).values_list("variant__key").annotate(n=Count("id"))
    for key, exposures in counts:
        figures[key].exposures = exposures if cohort is None else min(cohort, exposures)
    with connection.cursor() as cursor:
        cursor.execute(MONEY_SQL, {"experiment": experiment.pk, "key": experiment.key, "cohort": cohort,
                                   "currency": experiment.offer.currency})  # fmt: skip
        for key, conversions, revenue, squares, refunded, disputed in cursor.fetchall():
            if key in figures:
                row = figures[key]
                row.conversions, row.revenue, row.revenue_squares = conversions, revenue, squares
                row.refunded, row.disputed = refunded, disputed
    return [figures[variant.key] for variant in variants]


def _compare(rows: list[VariantFigures], primary_alpha: float, guardrail_alpha: float) -> None:
    control = rows[0]
    for row in rows[1:]:
        row.conversion = proportions_compare(control=(control.conversions, control.exposures),
                                             treatment=(row.conversions, row.exposures), alpha=primary_alpha)
        row.revenue_per_exposure = means_compare(control=control.moments, treatment=row.moments, alpha=primary_alpha)
        # Guardrails: is the treatment worse (one-sided)?
        row.refund_rate = proportions_compare(control=(control.refunded, control.conversions),
                                              treatment=(row.refunded, row.conversions), alpha=guardrail_alpha,
                                              alternative="larger")  # fmt: skip
        row.dispute_rate = proportions_compare(control=(control.disputed, control.conversions),
                                               treatment=(row.disputed, row.conversions), alpha=guardrail_alpha,
                                               alternative="larger")  # fmt: skip


def _verdict(results: Results) -> tuple[str, str, Variant | None]:
    experiment, control = results.experiment, results.control
    if results.sample_ratio and results.sample_ratio.mismatch:
        return (f"stop: sample ratio mismatch (exposures {results.sample_ratio.observed} do not fit the weights, "
                f"p = {results.sample_ratio.p_value:.2g}); check assignment and logging before trusting any "
                "figure", "stop", None)  # fmt: skip
    if not results.judged:
        return (f"not enough data yet: {results.smallest_exposures:,} of {experiment.horizon_per_variant:,} "
                "exposures in the smallest variant (guardrails are first looked at after "
                f"{experiment.horizon_per_variant // experiment.guardrail_looks or 1:,}; the primary metric is judged "
                "once each variant reaches the horizon)", "wait", None)  # fmt: skip
    for row in results.judged[1:]:
        for name, test in (("refunds", row.refund_rate), ("disputes", row.dispute_rate)):
            if test and test.significant:
                results.stops.append(f"{name} up on {row.variant.key}")
    if results.stops:
        return f"stop: {'; '.join(results.stops)}", "stop", control.variant
    if results.look < experiment.guardrail_looks:
        return (f"not enough data yet: {results.smallest_exposures:,} of {experiment.horizon_per_variant:,} "
                f"exposures in the smallest variant; guardrails fine at look {results.look} of "
                f"{experiment.guardrail_looks} (the primary metric is judged once each variant reaches the horizon)",
                "wait", None)  # fmt: skip
    metric = experiment.primary_metric
    name = "conversion" if metric == PriceExperiment.Metric.CONVERSION else "revenue per exposure"
    tests = [(row, row.conversion if metric == PriceExperiment.Metric.CONVERSION else row.revenue_per_exposure)
             for row in results.judged[1:]]  # fmt: skip
    better = [(row, test) for row, test in tests if test and test.significant and test.difference > 0]
    if better:
        row, _ = max(better, key=lambda pair: pair[1].difference)
        return f"{row.variant.key} better on {name}, guardrails fine", "good", row.variant
    worse = [row.variant.key for row, test in tests if test and test.significant and test.difference < 0]
    if worse:
        return (f"{control.variant.key} (control) better on {name}: {', '.join(worse)} worse; keep the control",
                "neutral", control.variant)  # fmt: skip
    return f"no significant difference on {name}: keep {control.variant.key} (control)", "neutral", control.variant
