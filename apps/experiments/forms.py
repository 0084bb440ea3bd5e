from decimal import Decimal

from django import forms
from unfold.widgets import (
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from apps.execution.models import AIModel, TaskType
from apps.offers.models import OfferTemplate

from .models import PriceExperiment
from .rollouts import DEFAULT_GUARDRAILS, GUARDRAILS


def _decimal(label, *, initial, help_text="", required=True, **limits):
    return forms.DecimalField(label=label, initial=initial, help_text=help_text, required=required,
                              widget=UnfoldAdminDecimalFieldWidget, **limits)  # fmt: skip


class PriceExperimentForm(forms.Form):
    """A new price experiment: the control is the offer's current price; B (and C) are the prices to try."""

    offer = forms.ModelChoiceField(
        queryset=OfferTemplate.objects.filter(is_active=True, billing="one_time", stripe_price__isnull=False),
        widget=UnfoldAdminSelectWidget, help_text="A published one-time offer; its current price is the control (A).",
    )  # fmt: skip
    key = forms.SlugField(max_length=100, widget=UnfoldAdminTextInputWidget,
                          help_text="Names the experiment in the API (/api/experiments/KEY/assign) and in Stripe.")
    hypothesis = forms.CharField(required=False, widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}))
    primary_metric = forms.ChoiceField(choices=PriceExperiment.Metric.choices, widget=UnfoldAdminSelectWidget)
    control_weight = forms.IntegerField(label="A (control) weight", initial=50, min_value=1,
                                        widget=UnfoldAdminIntegerFieldWidget)  # fmt: skip
    b_price = _decimal("B price", initial=None, min_value=Decimal("0"), help_text="In the offer's currency.")
    b_weight = forms.IntegerField(label="B weight", initial=50, min_value=1, widget=UnfoldAdminIntegerFieldWidget)
    c_price = _decimal("C price (optional)", initial=None, required=False, min_value=Decimal("0"))
    c_weight = forms.IntegerField(label="C weight", initial=50, min_value=1, required=False,
                                  widget=UnfoldAdminIntegerFieldWidget)  # fmt: skip
    baseline_rate = _decimal("Expected conversion rate", initial=Decimal("0.05"), min_value=Decimal("0.0001"),
                             max_value=Decimal("0.9999"), help_text="Today's rate, e.g. 0.05: sets the horizon.")
    minimum_effect = _decimal("Smallest change worth detecting", initial=Decimal("0.20"), min_value=Decimal("0.01"),
                              max_value=Decimal("10"), help_text="Relative: 0.20 is a 20 % change in conversion.")
    alpha = _decimal("Alpha", initial=Decimal("0.05"), min_value=Decimal("0.001"), max_value=Decimal("0.2"))
    power = _decimal("Power", initial=Decimal("0.80"), min_value=Decimal("0.5"), max_value=Decimal("0.99"))
    guardrail_looks = forms.IntegerField(initial=10, min_value=1, max_value=100, widget=UnfoldAdminIntegerFieldWidget,
                                         help_text="Refund and dispute rates are tested at alpha / looks.")

    def variants(self) -> list[dict]:
        data, offer = self.cleaned_data, self.cleaned_data["offer"]
        variants = [{"key": "A", "price": offer.price, "weight": data["control_weight"]},
                    {"key": "B", "price": data["b_price"], "weight": data["b_weight"]}]  # fmt: skip
        if data.get("c_price") is not None:
            variants.append({"key": "C", "price": data["c_price"], "weight": data.get("c_weight") or 50})
        return variants

    def design(self) -> dict:
        names = ("hypothesis", "primary_metric", "baseline_rate", "minimum_effect", "alpha", "power", "guardrail_looks")
        return {name: self.cleaned_data[name] for name in names}


class ModelRolloutForm(forms.Form):
    """A canary: the candidate takes the first step's share of the tasks that ask for the champion."""

    task_type = forms.ModelChoiceField(queryset=TaskType.objects.all(), widget=UnfoldAdminSelectWidget)
    champion = forms.ModelChoiceField(queryset=AIModel.objects.filter(is_active=True), to_field_name="name",
                                      widget=UnfoldAdminSelectWidget, help_text="The model the type runs on today.")
    candidate = forms.ModelChoiceField(queryset=AIModel.objects.filter(is_active=True), to_field_name="name",
                                       widget=UnfoldAdminSelectWidget)  # fmt: skip
    steps = forms.CharField(initial="5, 25, 50, 100", widget=UnfoldAdminTextInputWidget,
                            help_text="The candidate's shares in %, rising, comma-separated.")
    step_every_minutes = forms.IntegerField(required=False, min_value=1, widget=UnfoldAdminIntegerFieldWidget,
                                            help_text="Take the next step this often while guardrails are fine; "
                                                      "empty: by hand only.")  # fmt: skip
    horizon_runs = forms.IntegerField(initial=1000, min_value=20, widget=UnfoldAdminIntegerFieldWidget,
                                      help_text="Finished candidate runs the rollout plans for.")
    looks_planned = forms.IntegerField(initial=10, min_value=1, max_value=100, widget=UnfoldAdminIntegerFieldWidget,
                                       help_text="Guardrail looks over the horizon; each at alpha / looks.")
    alpha = _decimal("Alpha", initial=Decimal("0.05"), min_value=Decimal("0.001"), max_value=Decimal("0.2"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in GUARDRAILS.items():
            self.fields[f"guard_{name}"] = forms.BooleanField(
                label=f"Guardrail: {label}", required=False, initial=name in DEFAULT_GUARDRAILS,
                widget=UnfoldBooleanWidget,
            )  # fmt: skip

    def clean_steps(self):
        try:
            return [int(part) for part in self.cleaned_data["steps"].replace(" ", "").split(",") if part]
        except ValueError as error:
            raise forms.ValidationError("Whole percentages separated by commas, e.g. 5, 25, 50, 100.") from error

    def design(self) -> dict:
        data = self.cleaned_data
        return {"step_every_minutes": data.get("step_every_minutes"), "horizon_runs": data["horizon_runs"],
                "looks_planned": data["looks_planned"], "alpha": data["alpha"],
                "guardrails": [name for name in GUARDRAILS if data.get(f"guard_{name}")]}  # fmt: skip


class VariantChoiceForm(forms.Form):
    variant = forms.ModelChoiceField(queryset=None, widget=UnfoldAdminSelectWidget, empty_label=None)

    def __init__(self, *args, experiment: PriceExperiment, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["variant"].queryset = experiment.variants.order_by("-is_control", "key")
        recommended = experiment.winner_id
        if recommended:
            self.fields["variant"].initial = recommended
