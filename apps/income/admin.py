import csv
import json
from datetime import timedelta

import django_rq
from django.conf import settings
from django.contrib import admin
from django.db.models import Count
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminBigIntegerFieldWidget

from apps.core.admin_lists import LargeTableAdminMixin, distinct_values, values_list_filter
from apps.core.admin_site import HistoryAdmin
from apps.core.money import amount_display, amount_text

from .forms import ManualIncomeForm, RoiPeriodForm
from .models import NO_SETTLEMENT, IncomeEvent, ReconciliationDifference, ReconciliationRun, StrandedWebhook
from .selectors import roi_by_model_and_type
from .services import RECONCILE_JOB, income_record_job_push, income_record_manual

KIND_COLOURS = {"Payment": "success", "Refund": "danger", "refund reversed": "success", "Dispute": "warning",
                "Manual": "info"}  # fmt: skip
CSV_HEADER = ["ai_model", "task_type", "tasks_run", "tasks_succeeded", "ai_cost", "cost_unknown_tasks", "income",
              "stripe_fees", "income_net", "net", "roi", "income_per_succeeded_task"]  # fmt: skip


class AttributionFilter(admin.SimpleListFilter):
    title = "attribution"
    parameter_name = "attributed"

    def lookups(self, request, model_admin):
        return (("yes", "attributed"), ("no", "unattributed"))

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.unattributed()
        if self.value() == "yes":
            return queryset.exclude(ai_model__isnull=True, task_type__isnull=True)
        return queryset


@admin.register(IncomeEvent)
class IncomeEventAdmin(LargeTableAdminMixin, HistoryAdmin, ModelAdmin):
    """The ledger: Stripe rows are read-only; manual entries are added here and never edited (a correction is
    another entry)."""

    form = ManualIncomeForm
    list_display = ("occurred_at", "kind_label", "amount_display", "fee_display", "ai_model", "task_type", "offer",
                    "task_link", "attribution", "source")  # fmt: skip
    list_filter = (
        "kind", AttributionFilter,
        values_list_filter("currency", "currency", lambda: distinct_values(IncomeEvent, "currency")),
        "ai_model", "task_type", "occurred_at",
    )  # fmt: skip
    list_select_related = ("offer", "task_type", "ai_model")
    exact_search_fields = ("stripe_event_id", "stripe_object_id", "payment_intent_id", "charge_id",
                           "balance_transaction_id", "task")  # fmt: skip
    search_help_text = "Stripe event, object, PaymentIntent, charge or balance transaction id, or task id"
    sortable_by = ("occurred_at",)
    raw_id_fields = ("task",)
    actions_list = ("roi",)
    readonly_fields = ("kind", "amount_shown", "currency", "occurred_at", "reason", "settlement_currency",
                       "settlement_amount_shown", "fee_shown", "net_shown", "exchange_rate", "balance_transaction_id",
                       "settlement_note", "offer", "task", "ai_model", "task_type", "attribution_source",
                       "unattributed_reason", "stripe_event_id", "stripe_object_id", "payment_intent_id", "charge_id",
                       "metadata", "webhook_trigger", "created_by", "created_at")  # fmt: skip
    object_fieldsets = (
        ("Money", {"fields": ("kind", "amount_shown", "currency", "occurred_at", "reason")}),
        ("What reached the Stripe balance", {"fields": ("settlement_currency", "settlement_amount_shown", "fee_shown",
                                                         "net_shown",
                                                         "exchange_rate", "balance_transaction_id",
                                                         "settlement_note")}),
        ("Attribution", {"fields": ("offer", "task", "ai_model", "task_type", "attribution_source",
                                    "unattributed_reason")}),
        ("Stripe", {"fields": ("stripe_event_id", "stripe_object_id", "payment_intent_id", "charge_id", "metadata",
                               "webhook_trigger", "created_by", "created_at")}),
    )  # fmt: skip

    def get_list_display(self, request):
        if request.user.has_perm("execution.view_executiontask"):
            return self.list_display
        return tuple("task_number" if column == "task_link" else column for column in self.list_display)

    @display(description="task")
    def task_number(self, row):
        return "-" if row.task_id is None else f"#{row.task_id}"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "task" and not request.user.has_perm("execution.view_executiontask"):
            # The task lookup opens the task list, which this user may not see: a plain task id instead.
            kwargs["widget"] = UnfoldAdminBigIntegerFieldWidget(attrs={"placeholder": "task id, if known"})
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_fields(self, request, obj=None):
        return ManualIncomeForm.Meta.fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else super().get_readonly_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @display(description="kind", ordering="kind", label=KIND_COLOURS)
    def kind_label(self, row):
        return row.get_kind_display()

    @display(description="amount", ordering="amount")
    def amount_display(self, row):
        return amount_display(row.amount, row.currency)

    @display(description="amount")
    def amount_shown(self, row):
        return amount_display(row.amount, row.currency)

    @display(description="gross settled")
    def settlement_amount_shown(self, row):
        return self._settled(row, row.settlement_amount)

    @display(description="Stripe fee")
    def fee_shown(self, row):
        return self._settled(row, row.fee)

    @display(description="net")
    def net_shown(self, row):
        return self._settled(row, row.net)

    @staticmethod
    def _settled(row, amount):
        if amount is None:
            return row.settlement_note or "not known yet"
        return amount_display(amount, row.settlement_currency)

    @display(description="Stripe fee")
    def fee_display(self, row):
        if row.fee is None:
            if row.kind == IncomeEvent.Kind.MANUAL or row.settlement_note.startswith(NO_SETTLEMENT):
                return "-"
            return "not read" if row.settlement_note.startswith("Not read") else "pending"
        return amount_display(row.fee, row.settlement_currency)

    @display(description="attribution")
    def attribution(self, row):
        return row.get_attribution_source_display() if row.attribution_source else row.unattributed_reason or "-"

    @display(description="task")
    def task_link(self, row):
        if row.task_id is None:
            return "-"
        return format_html('<a href="{}">#{}</a>', reverse("admin:execution_executiontask_change", args=[row.task_id]),
                           row.task_id)  # fmt: skip

    @display(description="source")
    def source(self, row):
        return row.stripe_event_id or f"manual: {row.reason[:60]}"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        form.instance = income_record_manual(**{field: data.get(field) for field in ManualIncomeForm.Meta.fields},
                                             actor=request.user)  # fmt: skip

    @action(description="ROI by model and task type", icon="finance", url_path="roi", permissions=["view"])
    def roi(self, request):
        period = RoiPeriodForm.for_request(request.GET)
        report = None
        if period.is_valid():
            since, until = period.cleaned_data["since"], period.cleaned_data["until"]
            report = roi_by_model_and_type(since=since, until=until + timedelta(days=1),
                                           currency=settings.INCOME_CURRENCY)  # fmt: skip
            if request.GET.get("format") == "csv":
                return roi_csv(report)
        context = {
            **self.admin_site.each_context(request),
            "title": "ROI by model and task type",
            "opts": self.opts,
            "period": period,
            "report": report,
            "chart": roi_chart(report) if report else None,
            "chart_options": CHART_OPTIONS,
            "csv_query": request.GET.urlencode(),
        }
        return TemplateResponse(request, "admin/income/roi.html", context)


def roi_chart(report) -> str:
    """Chart.js data for unfold's bar chart: income and AI cost per model."""
    models = report.by_model()
    return json.dumps({
        "labels": list(models),
        "datasets": [
            {"label": f"Income ({report.currency.upper()})", "data": [float(m.income) for m in models.values()],
             "backgroundColor": "#16a34a"},
            {"label": f"AI cost ({report.currency.upper()})", "data": [float(m.cost) for m in models.values()],
             "backgroundColor": "#f97316"},
        ],
    })  # fmt: skip


# unfold uses these instead of its defaults (thin overlapping bars, no legend) when given.
CHART_OPTIONS = json.dumps({
    "animation": False, "responsive": True, "maintainAspectRatio": False, "barPercentage": 0.8,
    "maxBarThickness": 56, "scales": {"y": {"beginAtZero": True}},
    "plugins": {"legend": {"display": True, "align": "end", "position": "top"}, "tooltip": {"enabled": True}},
})  # fmt: skip


def roi_csv(report) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="roi-{report.since}-{report.until - timedelta(days=1)}-{report.currency}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    lines = [(row.ai_model or "", str(row.task_type or ""), row) for row in report.rows]
    if report.unattributed:
        lines.append(("(unattributed)", "", report.unattributed))
    lines.append(("(total)", "", report.total))

    def money(amount, exact=False) -> str:  # the page's figures, without thousands separators
        return "" if amount is None else amount_text(amount, report.currency, exact=exact, grouping=False)

    for ai_model, task_type, row in lines:
        writer.writerow([
            _cell(ai_model), _cell(task_type), row.tasks_run, row.tasks_succeeded, money(row.cost, exact=True),
            row.cost_unknown, money(row.income), money(row.fees), money(row.income_net), money(row.net, exact=True),
            _blank(row.roi),
            money(row.income_per_succeeded_task),
        ])  # fmt: skip
    return response


def _cell(text: str) -> str:
    """Names are user-entered: never let a spreadsheet read them as formulas."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _blank(value) -> str:
    return "" if value is None else str(value)


@admin.register(StrandedWebhook)
class StrandedWebhookAdmin(ModelAdmin):
    """Deliveries Stripe will not send again and the ledger has not recorded: retried by the scheduler; an
    operator can retry one now once the cause (shown) is fixed."""

    list_display = ("stranded_at", "event_type", "stripe_event_id", "attempts", "next_attempt_at", "state",
                    "last_error_short")  # fmt: skip
    list_filter = (("recorded_at", admin.EmptyFieldListFilter),)
    readonly_fields = ("trigger", "stripe_event_id", "event_type", "attempts", "next_attempt_at", "last_error",
                       "stranded_at", "recorded_at")  # fmt: skip
    actions = ("retry_now",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @display(description="state", label={"recorded": "success", "stranded": "danger"})
    def state(self, row):
        return "recorded" if row.recorded_at else "stranded"

    @display(description="last error")
    def last_error_short(self, row):
        return row.last_error[:120]

    @action(description="Retry now", permissions=["change"])
    def retry_now(self, request, queryset):
        rows = list(queryset.filter(recorded_at=None))
        for row in rows:
            income_record_job_push(trigger_id=row.trigger_id, retry=False)
        self.message_user(request, f"{len(rows)} delivery(ies) queued again; recorded ones were left alone.")


class DifferenceInline(TabularInline):
    model = ReconciliationDifference
    fields = ("kind", "balance_transaction_id", "source_id", "ledger_row", "stripe_shown", "ledger_shown", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    @display(description="Stripe says")
    def stripe_shown(self, row):
        return "-" if row.stripe_value is None else amount_display(row.stripe_value, row.currency)

    @display(description="ledger says")
    def ledger_shown(self, row):
        return "-" if row.ledger_value is None else amount_display(row.ledger_value, row.currency)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ModelAdmin):
    """Each day's comparison with Stripe's balance transactions, and every difference found."""

    list_display = ("day", "outcome_label", "stripe_transactions", "ledger_rows", "difference_count", "started_at",
                    "error")  # fmt: skip
    list_filter = ("outcome",)
    readonly_fields = ("day", "outcome", "stripe_transactions", "ledger_rows", "started_at", "finished_at", "error")
    inlines = (DifferenceInline,)
    actions_list = ("reconcile_yesterday",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(difference_total=Count("differences"))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @display(description="outcome", label={"matched": "success", "differences": "danger", "could not run": "danger",
                                           "running": "info"})  # fmt: skip
    def outcome_label(self, row):
        return row.get_outcome_display()

    @display(description="differences")
    def difference_count(self, row):
        return row.difference_total

    def has_reconcile_yesterday_permission(self, request):
        return request.user.has_perm("income.add_reconciliationrun")

    @action(description="Reconcile yesterday now", icon="sync", permissions=["reconcile_yesterday"])
    def reconcile_yesterday(self, request):
        """A confirmation page; its POST (with CSRF) queues the job."""
        day = (timezone.now() - timedelta(days=1)).date()
        if request.method == "POST":
            django_rq.get_queue("default").enqueue(RECONCILE_JOB, day.isoformat(), job_timeout=1800)
            self.message_user(request, f"Reconciliation of {day} queued; its run appears here when it finishes.")
            return HttpResponseRedirect(reverse("admin:income_reconciliationrun_changelist"))
        context = {**self.admin_site.each_context(request), "title": f"Reconcile {day} with Stripe", "opts": self.opts,
                   "day": day}  # fmt: skip
        return TemplateResponse(request, "admin/income/reconcile_confirm.html", context)
