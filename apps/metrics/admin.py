from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from apps.core.admin_lists import LargeTableAdminMixin
from apps.core.admin_site import ReadOnlyAdminMixin, form_page
from apps.safety.forms import NoteForm

from .admin_views import alert_chart, lead_times_page
from .dashboard import COUNT_CAP
from .detectors import DETECTORS
from .findings import finding_acknowledge, finding_assign, finding_mute, finding_resolve
from .forms import AlertRuleForm, FindingAssignForm, FindingMuteForm
from .models import UNRESOLVED, Alert, AlertRule, Finding, LeadTime

SEVERITY_COLOURS = {"info": "info", "warning": "warning", "critical": "danger"}
STATUS_COLOURS = {"open": "danger", "acknowledged": "warning", "muted": "info", "resolved": "success",
                  "closed": "success"}  # fmt: skip


class DetectorFilter(admin.SimpleListFilter):
    title = "detector"
    parameter_name = "detector"

    def lookups(self, request, model_admin):
        return [(name, name.replace("_", " ")) for name in sorted(DETECTORS)]

    def queryset(self, request, queryset):
        return queryset.filter(detector=self.value()) if self.value() else queryset


@admin.register(Finding)
class FindingAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    """Blind spots to triage: assign, acknowledge, mute until a date, resolve with a note. Detectors write the
    rows; a condition that persists keeps one row and counts up, and one that clears resolves itself."""

    list_display = ("severity_label", "title", "detector", "status_label", "occurrences", "first_seen", "last_seen",
                    "assignee_name")  # fmt: skip
    list_filter = ("status", "severity", DetectorFilter, "assignee")
    list_select_related = ("assignee",)
    ordering = ("-last_seen", "-id")
    sortable_by = ()
    exact_search_fields = ("id",)
    actions_detail = ("acknowledge", "assign", "mute", "resolve")
    change_form_template = "admin/metrics/finding/change_form.html"
    fields = ("title", "detector", "severity", "status", "detail", "occurrences", "first_seen",
              "last_seen", "assignee", "muted_until", "resolved_at", "resolved_by", "resolution_note")  # fmt: skip
    readonly_fields = fields
    change_list_template = "admin/metrics/finding/change_list.html"

    def changelist_view(self, request, extra_context=None):
        # Read (not counted in SQL) up to COUNT_CAP unresolved findings through the status index: a list page
        # never counts a whole table.
        unresolved = Finding.objects.filter(status__in=UNRESOLVED).values_list("detector", "severity")
        rows = list(unresolved[: COUNT_CAP + 1])
        table: dict[str, dict[str, int]] = {}
        for detector, severity in rows[:COUNT_CAP]:
            by_severity = table.setdefault(detector, {})
            by_severity[severity] = by_severity.get(severity, 0) + 1
        extra = {"finding_counts": [(name, table.get(name, {})) for name in sorted(DETECTORS)],
                 "severities": list(SEVERITY_COLOURS), "counts_capped": len(rows) > COUNT_CAP}  # fmt: skip
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def has_triage_permission(self, request, obj=None):
        return request.user.has_perm("metrics.change_finding")

    @display(description="severity", label=SEVERITY_COLOURS)
    def severity_label(self, finding):
        return finding.severity

    @display(description="status", label=STATUS_COLOURS)
    def status_label(self, finding):
        return finding.status

    @display(description="assignee")
    def assignee_name(self, finding):
        return finding.assignee.get_username() if finding.assignee_id else "-"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The rows behind the finding, as links the reader may follow (a link to a page they may not see would
        be a 403)."""
        finding = self.get_object(request, unquote(object_id))
        links = [(label, url) for label, url, permission in (finding.links if finding else [])
                 if request.user.has_perm(permission)]  # fmt: skip
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "finding_links": links})

    def _triage(self, request, object_id, *, title, form, submit, apply, summary=""):
        finding = get_object_or_404(Finding, pk=object_id)
        back = reverse("admin:metrics_finding_change", args=[finding.pk])
        if request.method == "POST" and (form is None or form.is_valid()):
            try:
                apply(finding, form.cleaned_data if form else {})
            except ValidationError as refusal:
                self.message_user(request, "; ".join(refusal.messages), messages.ERROR)
            else:
                self.message_user(request, f"{finding}: {submit.lower()}d.", messages.SUCCESS)
            return HttpResponseRedirect(back)
        return form_page(self, request, title=f"{title}: {finding}", form=form, submit_label=submit, back_url=back,
                         summary=summary or finding.detail)  # fmt: skip

    @action(description="Acknowledge", icon="visibility", url_path="acknowledge", permissions=["triage"])
    def acknowledge(self, request, object_id):
        return self._triage(request, object_id, title="Acknowledge", form=None, submit="Acknowledge",
                            apply=lambda finding, data: finding_acknowledge(finding, actor=request.user))  # fmt: skip

    @action(description="Assign", icon="person_add", url_path="assign", permissions=["triage"])
    def assign(self, request, object_id):
        form = FindingAssignForm(request.POST or None)
        return self._triage(request, object_id, title="Assign", form=form, submit="Assign", apply=lambda finding, data:
                            finding_assign(finding, assignee=data["assignee"], actor=request.user))  # fmt: skip

    @action(description="Mute", icon="notifications_off", url_path="mute", permissions=["triage"])
    def mute(self, request, object_id):
        form = FindingMuteForm(request.POST or None)
        return self._triage(request, object_id, title="Mute", form=form, submit="Mute", apply=lambda finding, data:
                            finding_mute(finding, until=data["until"], actor=request.user))  # fmt: skip

    @action(description="Resolve", icon="task_alt", url_path="resolve", permissions=["triage"])
    def resolve(self, request, object_id):
        form = NoteForm(request.POST or None, label="Resolution", help_text="How it was resolved. It reopens if "
                        "the detector sees it again.")  # fmt: skip
        return self._triage(request, object_id, title="Resolve", form=form, submit="Resolve", apply=lambda finding,
                            data: finding_resolve(finding, note=data["note"], actor=request.user))  # fmt: skip


@admin.register(Alert)
class AlertAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    """Drift and threshold alerts: opened by the periodic judgement, closed when the metric returns."""

    list_display = ("status_label", "metric", "ai_model", "task_type", "value_text", "baseline_text", "opened_at",
                    "closed_at", "reopened")  # fmt: skip
    list_filter = ("status", "rule")
    list_select_related = ("rule", "task_type")
    ordering = ("-opened_at", "-id")
    sortable_by = ()
    exact_search_fields = ("id",)
    fields = ("rule_link", "ai_model", "task_type", "status", "chart", "value_text", "baseline_text", "limit_text",
              "opened_at", "last_seen", "closed_at", "reopened", "notified_at", "rows_behind")  # fmt: skip
    readonly_fields = fields

    def get_fields(self, request, obj=None):
        """Links only for readers who may follow them (offer builders read alerts, not tasks or rules)."""
        hidden = {"rule_link": "metrics.view_alertrule", "rows_behind": "execution.view_executiontask"}
        return [name for name in self.fields if name not in hidden or request.user.has_perm(hidden[name])]

    @display(description="status", label=STATUS_COLOURS)
    def status_label(self, alert):
        return alert.status

    @display(description="metric")
    def metric(self, alert):
        return f"{alert.rule.get_metric_display()} ({alert.rule.get_kind_display()})"

    @display(description="value")
    def value_text(self, alert):
        return f"{alert.value:.4g}"

    @display(description="baseline")
    def baseline_text(self, alert):
        if alert.baseline_median is None:
            return "- (fixed threshold)"
        return f"{alert.baseline_median:.4g} median, {alert.baseline_spread:.2g} spread"

    @display(description="limit")
    def limit_text(self, alert):
        return f"{alert.limit:.4g} (beyond it the metric counts as drifted)"

    @display(description="rule")
    def rule_link(self, alert):
        return format_html('<a href="{}">{}</a>', reverse("admin:metrics_alertrule_change", args=[alert.rule_id]),
                           alert.rule)  # fmt: skip

    @display(description="last 24 hours")
    def chart(self, alert):
        return alert_chart(alert)

    @display(description="rows behind it")
    def rows_behind(self, alert):
        tasks = reverse("admin:execution_executiontask_changelist")
        return format_html('<a href="{}?ai_model__name__exact={}&task_type__id__exact={}">tasks of {} on {}</a>', tasks,
                           alert.ai_model, alert.task_type_id, alert.ai_model, alert.task_type)  # fmt: skip


@admin.register(AlertRule)
class AlertRuleAdmin(ModelAdmin):
    """When an alert opens: drift from each pair's own baseline, or a fixed value. Judged every few minutes."""

    form = AlertRuleForm
    list_display = ("name", "metric", "kind", "deviations", "threshold", "sustain_hours", "min_runs", "scope",
                    "enabled")  # fmt: skip
    list_filter = ("metric", "kind", "enabled")
    list_select_related = ("task_type",)

    @display(description="applies to")
    def scope(self, rule):
        return f"{rule.ai_model or 'every model'} x {rule.task_type or 'every type'}"


@admin.register(LeadTime)
class LeadTimeAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Lead times from proposal to accepted, first task, task succeeded and implemented, per category and month."""

    list_display = ("month", "category", "stage", "proposals", "median_text", "p90_text")
    list_filter = ("stage", "category")
    ordering = ("-month", "category", "stage")
    actions_list = ("slowest",)

    @display(description="median")
    def median_text(self, row):
        return f"{row.median_days:.1f} days"

    @display(description="p90")
    def p90_text(self, row):
        return f"{row.p90_days:.1f} days"

    @action(description="Slowest proposals", icon="hourglass_bottom", url_path="slowest", permissions=["view"])
    def slowest(self, request):
        return lead_times_page(self, request)
