"""The experiment and rollout pages' panels (figures, intervals, verdict, chart) and the pages that create them."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse

from apps.core.admin_site import form_page
from apps.execution.models import ModelRollout

from .decisions import reversible, window_closes_at
from .forms import ModelRolloutForm, PriceExperimentForm
from .models import PriceExperiment
from .pricing import price_experiment_create
from .results import price_experiment_results
from .rollouts import GUARDRAILS, rollout_arms, rollout_create, rollout_judge
from .stats import Comparison, rate_interval

CHART_WIDTH, ROW_HEIGHT, LABEL_WIDTH = 640, 28, 150


def interval_chart(rows: list[tuple[str, float | None, float | None, float | None]], *, percent: bool) -> dict:
    """Horizontal bars (value) with whiskers (interval) per row, scaled to the largest end: what the template
    draws. rows: (label, value, low, high)."""
    ends = [abs(x) for _, value, low, high in rows for x in (value, low, high) if x is not None]
    top = max(ends, default=0) or 1
    scale = (CHART_WIDTH - LABEL_WIDTH - 10) / top
    drawn = []
    for index, (label, value, low, high) in enumerate(rows):
        y = index * ROW_HEIGHT + 6
        shown = "-" if value is None else (f"{value:.2%}" if percent else f"{value:,.2f}")
        drawn.append({
            "label": label, "y": y, "text_y": y + 12, "width": max(0.0, (value or 0) * scale), "text": shown,
            "whisker": None if low is None or high is None else
            {"x1": LABEL_WIDTH + max(0.0, low * scale), "x2": LABEL_WIDTH + max(0.0, high * scale), "y": y + 8},
        })  # fmt: skip
    return {"bars": drawn, "width": CHART_WIDTH, "height": len(rows) * ROW_HEIGHT + 8, "left": LABEL_WIDTH}


def difference_text(test: Comparison | None, *, percent: bool, digits: int = 2, unit: str = "") -> str:
    """"+1.2 pp [-0.3, +2.7], p = 0.04" (or "-" before a test is possible)."""
    if test is None:
        return "-"
    if percent:
        return (f"{test.difference * 100:+.2f} pp [{test.low * 100:+.2f}, {test.high * 100:+.2f}], "
                f"p = {test.p_value:.3g}")  # fmt: skip
    return (f"{test.difference:+,.{digits}f}{unit} [{test.low:+,.{digits}f}, {test.high:+,.{digits}f}], "
            f"p = {test.p_value:.3g}")  # fmt: skip


def price_results_panel(experiment: PriceExperiment) -> str:
    results = price_experiment_results(experiment=experiment)
    rows = []
    for figures in results.variants:
        rows.append({
            "figures": figures, "conversion_text": difference_text(figures.conversion, percent=True),
            "revenue_text": difference_text(figures.revenue_per_exposure, percent=False),
            "refund_text": difference_text(figures.refund_rate, percent=True),
            "dispute_text": difference_text(figures.dispute_rate, percent=True),
        })  # fmt: skip
    conversion_chart = interval_chart(
        [(f.variant.key, f.conversion_rate, *_rate_interval(f, results.primary_alpha)) for f in results.variants],
        percent=True,
    )
    revenue_chart = interval_chart([(f.variant.key, f.mean_revenue, None, None) for f in results.variants],
                                   percent=False)  # fmt: skip
    return render_to_string("admin/experiments/price_results.html", {
        "results": results, "rows": rows, "conversion_chart": conversion_chart, "revenue_chart": revenue_chart,
        "currency": experiment.offer.currency.upper(), "window_closes_at": window_closes_at(experiment.decided_at),
    })  # fmt: skip


def _rate_interval(figures, alpha: float) -> tuple[float | None, float | None]:
    return rate_interval(successes=figures.conversions, trials=figures.exposures, alpha=alpha) or (None, None)


def rollout_panel(rollout: ModelRollout) -> str:
    champion, candidate = rollout_arms(rollout=rollout)
    judgement = rollout_judge(rollout=rollout, champion=champion, candidate=candidate)
    tests = judgement.tests
    failure = (lambda arm: None if not arm.runs else arm.failures / arm.runs)  # noqa: E731 - two uses below
    rows = [  # name, champion, candidate, test text, guardrail name
        ("Runs finished", champion.runs, candidate.runs, "", None),
        ("Success rate", _pct(champion.success_rate), _pct(candidate.success_rate), "", None),
        ("Failure rate", _pct(failure(champion)), _pct(failure(candidate)),
         difference_text(tests["failure_rate"], percent=True), "failure_rate"),
        ("p95 duration", _ms(champion.p95_ms), _ms(candidate.p95_ms), "", None),
        ("Mean duration", _ms(champion.duration.mean if champion.duration.n else None),
         _ms(candidate.duration.mean if candidate.duration.n else None),
         difference_text(tests["duration"], percent=False, digits=0, unit=" ms"),
         "duration"),
        ("Cost per run", _money(champion.cost_per_run), _money(candidate.cost_per_run),
         difference_text(tests["cost"], percent=False, digits=6), "cost"),
        ("Margin per run", _money(champion.margin_per_run), _money(candidate.margin_per_run), "", None),
        ("Review rejections", f"{champion.rejected} of {champion.reviewed}",
         f"{candidate.rejected} of {candidate.reviewed}", difference_text(tests["review_rejections"], percent=True),
         "review_rejections"),
        ("Concerns", f"{champion.concerned} of {champion.tasks}", f"{candidate.concerned} of {candidate.tasks}",
         difference_text(tests["concerns"], percent=True), "concerns"),
    ]  # fmt: skip
    table = [{"name": name, "champion": a, "candidate": b, "test": test or "-",
              "guardrail": guard in rollout.guardrails, "worse": guard in judgement.worse}
             for name, a, b, test, guard in rows]  # fmt: skip
    alpha = judgement.alpha
    chart = interval_chart([
        (rollout.champion_id[:20], champion.success_rate, *_arm_interval(champion, alpha)),
        (rollout.candidate_id[:20], candidate.success_rate, *_arm_interval(candidate, alpha)),
    ], percent=True)  # fmt: skip
    return render_to_string("admin/experiments/rollout_results.html", {
        "rollout": rollout, "table": table, "chart": chart, "judgement": judgement,
        "guardrail_names": [GUARDRAILS[name] for name in rollout.guardrails],
        "window_closes_at": window_closes_at(rollout.decided_at),
        "reversible": reversible(status=rollout.status, decided_at=rollout.decided_at, live=ModelRollout.LIVE),
    })  # fmt: skip


def _arm_interval(arm, alpha: float) -> tuple[float | None, float | None]:
    return rate_interval(successes=arm.successes, trials=arm.runs, alpha=alpha) or (None, None)


def _pct(value):
    return "-" if value is None else f"{value:.1%}"


def _ms(value):
    return "-" if value is None else f"{value:,.0f} ms"


def _money(value):
    return "-" if value is None else f"{value:,.6f}"


def price_experiment_add_page(model_admin, request):
    form = PriceExperimentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            experiment = price_experiment_create(offer=form.cleaned_data["offer"], key=form.cleaned_data["key"],
                                                 variants=form.variants(), actor=request.user, **form.design())
        except ValidationError as error:
            _errors_onto(form, error)
        else:
            model_admin.message_user(request, f"{experiment}: its prices are being published; start it when they "
                                              "are on Stripe.", messages.SUCCESS)  # fmt: skip
            return HttpResponseRedirect(reverse("admin:experiments_priceexperiment_change", args=[experiment.pk]))
    return form_page(model_admin, request, title="New price experiment", form=form, submit_label="Create",
                     back_url=reverse("admin:experiments_priceexperiment_changelist"),
                     summary="Each variant becomes a Stripe Price on the offer's product (the offer's publish job "
                             "makes them). The horizon follows from the expected rate, the smallest change worth "
                             "detecting, alpha and power.")  # fmt: skip


def rollout_add_page(model_admin, request):
    form = ModelRolloutForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            rollout = rollout_create(task_type=data["task_type"], champion=data["champion"],
                                     candidate=data["candidate"], steps=data["steps"], actor=request.user,
                                     **form.design())  # fmt: skip
        except ValidationError as error:
            _errors_onto(form, error)
        else:
            model_admin.message_user(request, f"Rollout #{rollout.pk} is running at {rollout.candidate_percent}%.",
                                     messages.SUCCESS)  # fmt: skip
            return HttpResponseRedirect(reverse("admin:execution_modelrollout_change", args=[rollout.pk]))
    return form_page(model_admin, request, title="New model rollout", form=form, submit_label="Start rollout",
                     back_url=reverse("admin:execution_modelrollout_changelist"),
                     summary="Tasks of the type that ask for the champion go to the candidate at the first step's "
                             "share, chosen by a sticky hash of the caller's key (else the task id).")  # fmt: skip


def _errors_onto(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, problems in error.message_dict.items():
            form.add_error(field if field in form.fields else None, problems)
    else:
        form.add_error(None, error.messages)
