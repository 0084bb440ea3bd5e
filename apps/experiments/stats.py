"""The statistics behind every verdict, from maintained libraries (statsmodels, scipy): two-proportion z-tests
with Newcombe intervals for rates, Welch's t-test with its interval for means (revenue, duration, cost per run),
a chi-square sample-ratio-mismatch check on exposures, and the sample size a fixed-horizon test needs.

Design, chosen before any data: the primary metric is judged once, at the planned horizon (fixed horizon; the page
shows intervals before then but no verdict); guardrails are looked at up to `looks` times, each at alpha / looks
(Bonferroni), so that looking early and often cannot push the false-alarm rate above alpha.

scipy and statsmodels are imported by the functions that use them: importing them takes ~2.5 s, and this module is
imported at every process's start (admin, URLs, the scheduler), where nothing computes yet."""

from __future__ import annotations

import math
from dataclasses import dataclass

SRM_ALPHA = 0.001  # a sample-ratio mismatch this unlikely means the assignment or the logging is broken


@dataclass(frozen=True)
class Comparison:
    """Treatment minus control, with its two-sided interval at 1 - alpha and the test's p-value."""

    control: float
    treatment: float
    difference: float
    low: float
    high: float
    p_value: float
    alpha: float

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @property
    def relative(self) -> float | None:
        return self.difference / self.control if self.control else None


def proportions_compare(*, control: tuple[int, int], treatment: tuple[int, int], alpha: float,
                        alternative: str = "two-sided") -> Comparison | None:  # fmt: skip
    """(successes, trials) per arm; None until both arms have trials and the pooled rate is neither 0 nor 1
    (the z-test is undefined there)."""
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    (x_c, n_c), (x_t, n_t) = control, treatment
    if n_c == 0 or n_t == 0 or x_c + x_t in (0, n_c + n_t):
        return None
    # proportions_ztest's alternative is about the first minus the second: treatment first.
    _, p_value = proportions_ztest([x_t, x_c], [n_t, n_c], alternative=alternative)
    low, high = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="newcomb", compare="diff", alpha=alpha)
    rate_c, rate_t = x_c / n_c, x_t / n_t
    return Comparison(rate_c, rate_t, rate_t - rate_c, float(low), float(high), float(p_value), alpha)


def rate_interval(*, successes: int, trials: int, alpha: float) -> tuple[float, float] | None:
    """One arm's own rate, Wilson interval (the chart's whiskers)."""
    if trials == 0:
        return None
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, trials, alpha=alpha, method="wilson")
    return float(low), float(high)


@dataclass(frozen=True)
class Moments:
    """n, sum and sum of squares of a per-unit value (revenue per exposure, duration per run): what SQL gives."""

    n: int
    total: float
    squares: float

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def std(self) -> float:
        if self.n < 2:
            return 0.0
        spread = self.squares - self.total**2 / self.n
        if spread <= 1e-9 * max(self.squares, 1e-300):  # equal values: what is left is rounding, not variance
            return 0.0
        return math.sqrt(spread / (self.n - 1))


def means_compare(*, control: Moments, treatment: Moments, alpha: float,
                  alternative: str = "two-sided") -> Comparison | None:  # fmt: skip
    """Welch's t-test (unequal variances) on treatment minus control, with the Welch-Satterthwaite interval."""
    if control.n < 2 or treatment.n < 2:
        return None
    var_c, var_t = control.std**2 / control.n, treatment.std**2 / treatment.n
    if var_c + var_t == 0:
        return None
    from scipy import stats as scipy_stats

    result = scipy_stats.ttest_ind_from_stats(treatment.mean, treatment.std, treatment.n, control.mean, control.std,
                                              control.n, equal_var=False, alternative=alternative)  # fmt: skip
    df = (var_c + var_t) ** 2 / (var_c**2 / (control.n - 1) + var_t**2 / (treatment.n - 1))
    margin = scipy_stats.t.ppf(1 - alpha / 2, df) * math.sqrt(var_c + var_t)
    difference = treatment.mean - control.mean
    return Comparison(control.mean, treatment.mean, difference, float(difference - margin),
                      float(difference + margin), float(result.pvalue), alpha)  # fmt: skip


@dataclass(frozen=True)
class SampleRatio:
    observed: list[int]
    expected: list[float]
    p_value: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < SRM_ALPHA


def sample_ratio_check(*, observed: list[int], weights: list[int]) -> SampleRatio | None:
    """Chi-square goodness of fit of the exposures to the configured weights; None before there is any."""
    total = sum(observed)
    if total == 0 or len(observed) < 2:
        return None
    expected = [total * weight / sum(weights) for weight in weights]
    from scipy import stats as scipy_stats

    p_value = float(scipy_stats.chisquare(observed, expected).pvalue)
    return SampleRatio(observed, expected, p_value)


def horizon_per_arm(*, baseline_rate: float, minimum_effect: float, alpha: float, power: float) -> int:
    """Exposures per arm a fixed-horizon two-proportion test needs to detect a relative change of
    `minimum_effect` on `baseline_rate` (Cohen's h, statsmodels' normal power)."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    treated = min(max(baseline_rate * (1 + minimum_effect), 1e-6), 1 - 1e-6)
    effect = abs(proportion_effectsize(treated, baseline_rate))
    if effect == 0:
        raise ValueError("the minimum effect must change the rate")
    return math.ceil(NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0-100) of the values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]
