from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action, display

from apps.core.admin_site import HistoryAdmin, form_page
from apps.execution.models import ModelRollout
from apps.safety.forms import NoteForm

from .admin_views import price_experiment_add_page, price_results_panel, rollout_add_page, rollout_panel
from .decisions import (
    price_experiment_promote,
    price_experiment_rollback,
    reversible,
    rollout_promote,
    rollout_rollback,
)
from .forms import VariantChoiceForm
from .models import PriceExperiment, Variant
from .pricing import price_experiment_start
from .rollouts import rollout_hold, rollout_resume, rollout_step

STATUS_COLOURS = {"draft": "info", "running": "warning", "held": "danger", "promoted": "success",
                  "rolled_back": "info"}  # fmt: skip


class DecisionsMixin:
    """Each decision is one action behind a confirmation page; the service refuses what the state does not allow
    (and says why). The admin defines `panel(obj)` (its figures, above the fields) and `actions_for_state(obj)`
    (the buttons its state allows)."""

    change_url_name = ""
    change_form_template = "admin/experiments/change_form.html"

    def get_actions_detail(self, request, object_id):
        """Only the decisions the object's state allows (a stale page's button still gets the service's reason)."""
        obj = self.get_object(request, unquote(str(object_id))) if object_id else None
        allowed = self.actions_for_state(obj) if obj else set()
        return [found for found in super().get_actions_detail(request, object_id)
                if found.method.__name__ in allowed]  # fmt: skip

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        extra = {"results_panel": self.panel(obj)} if obj else {}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def _decide(self, request, obj, *, title, submit, summary, apply, form=None):
        back = reverse(self.change_url_name, args=[obj.pk])
        if request.method == "POST" and (form is None or form.is_valid()):
            try:
                apply(form.cleaned_data if form else {})
            except ValidationError as refusal:
                self.message_user(request, "; ".join(refusal.messages), messages.ERROR)
            else:
                self.message_user(request, f"{obj}: {submit.lower()} done.", messages.SUCCESS)
            return HttpResponseRedirect(back)
        return form_page(self, request, title=f"{title}: {obj}", form=form, submit_label=submit, back_url=back,
                         summary=summary)  # fmt: skip


class VariantInline(TabularInline):
    model = Variant
    fields = ("key", "price", "weight", "is_control", "stripe_price")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("experiments.view_priceexperiment")  # a part of the experiment's page

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @display(description="Stripe price")
    def stripe_price(self, variant):
        if variant.stripe_price_id:
            return variant.stripe_price_id
        return "being published" if variant.experiment.status == PriceExperiment.Status.DRAFT else "not on Stripe"


@admin.register(PriceExperiment)
class PriceExperimentAdmin(DecisionsMixin, HistoryAdmin, ModelAdmin):
    """Price A/B tests on offers: results from the income ledger, decided by promotion or rollback."""

    change_url_name = "admin:experiments_priceexperiment_change"
    list_display = ("key", "offer", "status_label", "primary_metric", "horizon_per_variant", "started_at",
                    "decided_at")  # fmt: skip
    list_filter = ("status", "primary_metric")
    list_select_related = ("offer",)
    search_fields = ("key",)
    inlines = (VariantInline,)
    fields = ("offer", "hypothesis", "status", "status_reason", "primary_metric", "baseline_rate",
              "minimum_effect", "alpha", "power", "horizon_per_variant", "guardrail_looks", "started_at",
              "decided_at", "created_by")  # fmt: skip
    readonly_fields = fields
    actions_detail = ("start", "promote", "rollback")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            return super().add_view(request, form_url, extra_context)  # Django's 403
        return price_experiment_add_page(self, request)

    def has_change_permission(self, request, obj=None):
        return False  # decisions are actions; the rows themselves are written by services

    def has_delete_permission(self, request, obj=None):
        return False

    def has_decide_permission(self, request, obj=None):
        return request.user.has_perm("experiments.decide_priceexperiment")

    @display(description="status", label=STATUS_COLOURS)
    def status_label(self, experiment):
        return experiment.status

    def panel(self, experiment):
        return price_results_panel(experiment)

    def actions_for_state(self, experiment):
        status, open_window = experiment.status, reversible(status=experiment.status, decided_at=experiment.decided_at,
                                                            live=(PriceExperiment.Status.RUNNING,))
        if status == PriceExperiment.Status.DRAFT:
            return {"start", "rollback"}  # roll back a draft: cancel it
        return {name for name, wanted in (("promote", open_window),
                                          ("rollback", open_window and status != "rolled_back")) if wanted}

    @action(description="Start", icon="play_arrow", url_path="start", permissions=["decide"])
    def start(self, request, object_id):
        experiment = get_object_or_404(PriceExperiment, pk=object_id)
        return self._decide(request, experiment, title="Start", submit="Start",
                            summary="Subjects are assigned from now on; each variant's Stripe price must exist.",
                            apply=lambda data: price_experiment_start(experiment=experiment, actor=request.user))

    @action(description="Promote a variant", icon="trending_up", url_path="promote", permissions=["decide"])
    def promote(self, request, object_id):
        experiment = get_object_or_404(PriceExperiment, pk=object_id)
        form = VariantChoiceForm(request.POST or None, experiment=experiment)
        return self._decide(
            request, experiment, title="Promote", submit="Promote", form=form,
            summary="The variant's price becomes the offer's (published to Stripe); the other prices stay active "
                    "until the rollback window closes, and this can be rolled back until then.",
            apply=lambda data: price_experiment_promote(experiment=experiment, variant=data["variant"],
                                                        actor=request.user),
        )  # fmt: skip

    @action(description="Roll back", icon="undo", url_path="rollback", permissions=["decide"])
    def rollback(self, request, object_id):
        experiment = get_object_or_404(PriceExperiment, pk=object_id)
        return self._decide(
            request, experiment, title="Roll back", submit="Roll back",
            summary="The offer goes back to the control price (published to Stripe); new checkouts use it. "
                    "Reversible by a promotion until the rollback window closes.",
            apply=lambda data: price_experiment_rollback(experiment=experiment, actor=request.user),
        )  # fmt: skip


@admin.register(ModelRollout)
class ModelRolloutAdmin(DecisionsMixin, HistoryAdmin, ModelAdmin):
    """Canary rollouts of AI models per task type: arms compared run by run, held by their guardrails."""

    change_url_name = "admin:execution_modelrollout_change"
    list_display = ("__str__", "status_label", "candidate_percent", "looks_done", "created_at", "decided_at")
    list_filter = ("status", "task_type")
    list_select_related = ("task_type",)
    fields = ("task_type", "champion", "candidate", "status", "status_reason", "candidate_percent", "steps",
              "step_every_minutes", "step_changed_at", "guardrails", "horizon_runs", "looks_planned", "looks_done",
              "alpha", "judged_at", "decided_at", "previous_default", "created_by")  # fmt: skip
    readonly_fields = fields
    actions_detail = ("step", "hold", "resume", "promote", "rollback")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            return super().add_view(request, form_url, extra_context)
        return rollout_add_page(self, request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_decide_permission(self, request, obj=None):
        return request.user.has_perm("execution.decide_modelrollout")

    @display(description="status", label=STATUS_COLOURS)
    def status_label(self, rollout):
        return rollout.status

    def panel(self, rollout):
        return rollout_panel(rollout)

    def actions_for_state(self, rollout):
        status = rollout.status
        open_window = reversible(status=status, decided_at=rollout.decided_at, live=ModelRollout.LIVE)
        following = any(step > rollout.candidate_percent for step in rollout.steps)
        return {name for name, wanted in (
            ("step", status == "running" and following), ("hold", status == "running"), ("resume", status == "held"),
            ("promote", open_window and status != "promoted"), ("rollback", open_window and status != "rolled_back"),
        ) if wanted}  # fmt: skip

    def _rollout(self, object_id):
        return get_object_or_404(ModelRollout.objects.select_related("task_type"), pk=object_id)

    @action(description="Next step", icon="trending_up", url_path="step", permissions=["decide"])
    def step(self, request, object_id):
        rollout = self._rollout(object_id)
        following = [step for step in rollout.steps if step > rollout.candidate_percent]
        return self._decide(request, rollout, title="Next step", submit="Step up",
                            summary=f"The candidate's share goes from {rollout.candidate_percent}% to "
                                    f"{following[0] if following else '(none: last step)'}%.",
                            apply=lambda data: rollout_step(rollout=rollout, actor=request.user))  # fmt: skip

    @action(description="Hold", icon="pause", url_path="hold", permissions=["decide"])
    def hold(self, request, object_id):
        rollout = self._rollout(object_id)
        form = NoteForm(request.POST or None, label="Why", help_text="Shown on the rollout and in the audit log.")
        return self._decide(request, rollout, title="Hold", submit="Hold", form=form,
                            summary="Every new task goes to the champion until the rollout is resumed.",
                            apply=lambda data: rollout_hold(rollout=rollout, reason=data["note"], actor=request.user))

    @action(description="Resume", icon="play_arrow", url_path="resume", permissions=["decide"])
    def resume(self, request, object_id):
        rollout = self._rollout(object_id)
        return self._decide(request, rollout, title="Resume", submit="Resume",
                            summary=f"The candidate takes {rollout.candidate_percent}% of the tasks again.",
                            apply=lambda data: rollout_resume(rollout=rollout, actor=request.user))  # fmt: skip

    @action(description="Promote", icon="verified", url_path="promote", permissions=["decide"])
    def promote(self, request, object_id):
        rollout = self._rollout(object_id)
        return self._decide(
            request, rollout, title="Promote", submit="Promote",
            summary=f"{rollout.candidate_id} becomes the default model of {rollout.task_type}, and tasks asking for "
                    f"{rollout.champion_id} run on it. Reversible until the rollback window closes.",
            apply=lambda data: rollout_promote(rollout=rollout, actor=request.user),
        )  # fmt: skip

    @action(description="Roll back", icon="undo", url_path="rollback", permissions=["decide"])
    def rollback(self, request, object_id):
        rollout = self._rollout(object_id)
        form = NoteForm(request.POST or None, label="Why", help_text="Shown on the rollout and in the audit log.")
        return self._decide(
            request, rollout, title="Roll back", submit="Roll back", form=form,
            summary=f"New tasks run on {rollout.champion_id} again and the task type's default model is restored. "
                    "Reversible by a promotion until the rollback window closes.",
            apply=lambda data: rollout_rollback(rollout=rollout, actor=request.user, reason=data["note"]),
        )  # fmt: skip
