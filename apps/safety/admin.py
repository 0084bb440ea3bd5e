from datetime import timedelta
from functools import partial

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, re_path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action, display

from apps.core.admin_site import HistoryAdmin, ReadOnlyAdminMixin, form_page
from apps.execution.services import BULK_APPROVABLE_LEVELS, task_review_assign, tasks_apply
from apps.execution.services.review import REVIEW_PERMISSION

from .admin_views import STORY_PATH, activity_page, rate_task_type_page, story_page
from .audits import CHECKS, audit_run_acknowledge, audit_run_request
from .forms import AssignForm, ConcernForm, NoteForm, RejectForm, SafetyAuditForm
from .models import AuditRun, Concern, ReviewQueueTask, RiskRescore, RiskRule, SafetyAudit
from .selectors import open_concerns_for_queue, review_queue, reviewers
from .services import (
    concern_report,
    concern_resolve,
    risk_rescore_start,
    risk_rule_save,
    safety_audit_save,
)

RISK_COLOURS = {"low": "success", "medium": "info", "high": "warning", "critical": "danger"}
SEVERITY_COLOURS = RISK_COLOURS
RUN_COLOURS = {"passed": "success", "failed": "danger", "running": "info", "acknowledged": "warning"}


def _task_link(task_id):
    return format_html('<a href="{}">#{}</a>', reverse("admin:execution_executiontask_change", args=[task_id]),
                       task_id)  # fmt: skip


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        return [("me", "me"), ("nobody", "nobody")]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(review_assignee=request.user)
        if self.value() == "nobody":
            return queryset.filter(review_assignee__isnull=True)
        return queryset


@admin.register(ReviewQueueTask)
class ReviewQueueAdmin(ModelAdmin):
    """Tasks awaiting review, the riskiest work with the most money at stake first, then the longest waiting;
    open concerns above the list. Decisions go through the review services (four eyes, reasons, audit rows)."""

    list_display = ("task", "task_type", "ai_model", "risk", "money", "waited", "assignee", "creator")
    list_display_links = None
    list_filter = ("task_type", "ai_model", "risk_level", AssigneeFilter)
    list_select_related = ("task_type", "ai_model", "review_assignee", "created_by")
    sortable_by = ()
    show_full_result_count = False
    list_before_template = "admin/safety/review_queue_before.html"
    actions = ("claim_selected", "assign_selected", "approve_selected", "reject_selected")

    def get_queryset(self, request):
        return review_queue(ReviewQueueTask.objects.all())

    def get_ordering(self, request):
        return ("-review_priority", "created_at", "id")  # annotated by review_queue()

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(REVIEW_PERMISSION)

    def has_module_permission(self, request):
        return request.user.has_perm(REVIEW_PERMISSION)

    def has_review_permission(self, request):
        return request.user.has_perm(REVIEW_PERMISSION)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "open_concerns": open_concerns_for_queue(),
                         "old_after_hours": settings.REVIEW_QUEUE_OLD_AFTER_HOURS}  # fmt: skip
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        pages = [
            re_path(STORY_PATH, self.admin_site.admin_view(partial(story_page, self)), name="object_story"),
            path("activity/", self.admin_site.admin_view(partial(activity_page, self)), name="activity"),
            path("rate/<int:task_type_id>/", self.admin_site.admin_view(partial(rate_task_type_page, self)),
                 name="safety_task_type_rate"),
        ]  # fmt: skip
        return pages + super().get_urls()

    @display(description="task")
    def task(self, task):
        return _task_link(task.pk)

    @display(description="risk", label=RISK_COLOURS)
    def risk(self, task):
        return task.risk_level, f"{task.risk_level} {task.risk_score}"

    @display(description=f"at stake ({settings.INCOME_CURRENCY.upper()})")
    def money(self, task):
        return f"{task.money_at_stake:,.2f}"

    @display(description="waited")
    def waited(self, task):
        old = timezone.now() - task.created_at > timedelta(hours=settings.REVIEW_QUEUE_OLD_AFTER_HOURS)
        text = timesince(task.created_at)
        if old:
            return format_html('<span class="review-old font-semibold text-red-600 dark:text-red-400" title="waiting '
                               'longer than {} h">{}</span>', settings.REVIEW_QUEUE_OLD_AFTER_HOURS, text)
        return text

    @display(description="assignee")
    def assignee(self, task):
        return task.review_assignee.get_username() if task.review_assignee_id else "-"

    @display(description="created by")
    def creator(self, task):
        return task.created_by.get_username() if task.created_by_id else "system"

    @admin.action(description="Claim (assign to me)", permissions=["review"])
    def claim_selected(self, request, queryset):
        self._assign(request, queryset, request.user)

    @admin.action(description="Assign to a reviewer…", permissions=["review"])
    def assign_selected(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        form = AssignForm(request.POST if "confirm" in request.POST else None, task_ids=ids,
                          initial={"action": "assign_selected", ACTION_CHECKBOX_NAME: ids})  # fmt: skip
        form.fields["assignee"].queryset = reviewers()
        if form.is_bound and form.is_valid():
            return self._assign(request, queryset, form.cleaned_data["assignee"])
        return form_page(self, request, title=f"Assign {len(ids)} task(s)", form=form, submit_label="Assign",
                         back_url=request.get_full_path())  # fmt: skip

    def _assign(self, request, queryset, assignee):
        done = 0
        for task in queryset:
            try:
                task_review_assign(task=task, assignee=assignee, actor=request.user)
                done += 1
            except (PermissionDenied, ValidationError) as refusal:
                why = "; ".join(getattr(refusal, "messages", [str(refusal)]))
                self.message_user(request, f"Task #{task.pk}: {why}", messages.ERROR)
        who = assignee.get_username() if assignee else "nobody"
        self.message_user(request, f"{done} task(s) assigned to {who}.", messages.SUCCESS)

    @admin.action(description="Approve (low and medium risk only)", permissions=["review"])
    def approve_selected(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        refused = list(queryset.exclude(risk_level__in=BULK_APPROVABLE_LEVELS).values_list("pk", flat=True))
        if len(ids) > 1 and refused:
            self.message_user(request, f"Not approved: {', '.join(f'#{pk}' for pk in refused)} "
                              "(high or critical risk: approve each on its own, from its page or alone here).",
                              messages.WARNING)  # fmt: skip
            ids = [pk for pk in ids if pk not in refused]
        if not ids:
            return
        changed, problems = tasks_apply(action="approve", task_ids=ids, actor=request.user,
                                        comment="approved from the review queue", bulk=len(ids) > 1)  # fmt: skip
        self.message_user(request, f"{changed} task(s) approved.", messages.SUCCESS if changed else messages.WARNING)
        for problem in problems:
            self.message_user(request, problem, messages.ERROR)

    @admin.action(description="Reject with a reason…", permissions=["review"])
    def reject_selected(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        form = RejectForm(request.POST if "confirm" in request.POST else None, task_ids=ids,
                          initial={"action": "reject_selected", ACTION_CHECKBOX_NAME: ids})  # fmt: skip
        if form.is_bound and form.is_valid():
            changed, problems = tasks_apply(action="reject", task_ids=ids, actor=request.user,
                                            comment=form.cleaned_data["reason"])  # fmt: skip
            self.message_user(request, f"{changed} task(s) rejected.", messages.SUCCESS if changed else
                              messages.WARNING)  # fmt: skip
            for problem in problems:
                self.message_user(request, problem, messages.ERROR)
            return None
        return form_page(self, request, title=f"Reject {len(ids)} task(s)?", form=form, submit_label="Reject",
                         summary="Rejected tasks are cancelled and never run.", back_url=request.get_full_path())


TARGET_PAGES = {"task": ("execution", "executiontask"), "task_type": ("execution", "tasktype"),
                "ai_model": ("execution", "aimodel"), "offer": ("offers", "offertemplate")}


@admin.register(Concern)
class ConcernAdmin(HistoryAdmin, ModelAdmin):
    """Anyone signed in reports and reads concerns (with the reviewer's note); reviewers resolve them."""

    form = ConcernForm
    list_display = ("id", "severity_label", "category", "target", "status", "reported_by_name", "created_at",
                    "resolution_note")  # fmt: skip
    list_filter = ("status", "severity", "category")
    list_select_related = ("task__task_type", "task_type", "ai_model", "offer", "reported_by")
    actions_detail = ("resolve",)
    readonly_fields = ("target_link", "category", "severity", "text", "status", "reported_by", "created_at",
                       "resolved_by", "resolved_at", "resolution_note")  # fmt: skip

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ConcernForm.Meta.fields}),)
        return ((None, {"fields": self.get_readonly_fields(request, obj)}),)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        target = next(((app, model) for name, (app, model) in TARGET_PAGES.items() if getattr(obj, f"{name}_id")),
                      None)  # fmt: skip
        fields = self.readonly_fields
        if target and not request.user.has_perm(f"{target[0]}.view_{target[1]}"):  # a link would be a 403
            fields = tuple("target" if name == "target_link" else name for name in fields)
        return self._fields_for(request, fields)  # people as text for those who may not open the user admin

    def has_change_permission(self, request, obj=None):
        return False  # a concern is a record: reviewers resolve it (an action), nobody edits it

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resolve_permission(self, request, obj=None):
        return request.user.has_perm("safety.change_concern") and request.user.has_perm(REVIEW_PERMISSION)

    def get_actions_detail(self, request, object_id):
        open_ = Concern.objects.filter(pk=object_id, status=Concern.Status.OPEN).exists()
        return super().get_actions_detail(request, object_id) if open_ else []

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if str(initial.get("task", "")).isdigit():
            initial["task"] = int(initial["task"])
        return initial

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        created = concern_report(reporter=request.user, category=data["category"], severity=data["severity"],
                                 text=data["text"], **{name: data.get(name) for name in Concern.TARGETS})
        obj.pk = created.pk

    @display(description="severity", label=SEVERITY_COLOURS)
    def severity_label(self, concern):
        return concern.severity

    @display(description="about")
    def target(self, concern):
        return concern.target_label

    @display(description="about")
    def target_link(self, concern):
        for name, (app_label, model_name) in TARGET_PAGES.items():
            if object_id := getattr(concern, f"{name}_id"):
                url = reverse(f"admin:{app_label}_{model_name}_change", args=[object_id])
                return format_html('<a href="{}">{}</a>', url, concern.target_label)
        return "-"

    @display(description="reported by")
    def reported_by_name(self, concern):
        return concern.reported_by.get_username() if concern.reported_by_id else "API"

    @action(description="Resolve", icon="task_alt", url_path="resolve", permissions=["resolve"])
    def resolve(self, request, object_id):
        concern = get_object_or_404(Concern, pk=object_id)
        back = reverse("admin:safety_concern_change", args=[concern.pk])
        form = NoteForm(request.POST or None, label="Resolution", help_text="The reporter reads this note.")
        if request.method == "POST" and form.is_valid():
            try:
                concern_resolve(concern=concern, reviewer=request.user, note=form.cleaned_data["note"])
            except ValidationError as refusal:
                self.message_user(request, "; ".join(refusal.messages), messages.ERROR)
            else:
                self.message_user(request, f"Concern #{concern.pk} resolved.", messages.SUCCESS)
            return HttpResponseRedirect(back)
        return form_page(self, request, title=f"Resolve concern #{concern.pk}?", form=form, submit_label="Resolve",
                         summary=f"{concern.severity} {concern.category} concern on {concern.target_label}: "
                                 f"{concern.text}", back_url=back)  # fmt: skip


@admin.register(RiskRule)
class RiskRuleAdmin(HistoryAdmin, ModelAdmin):
    """The rules of the risk score. Saving one re-scores every waiting task in the background."""

    list_display = ("kind_label", "points", "threshold", "window", "enabled", "updated_at")
    list_editable = ()
    fields = ("kind", "points", "threshold", "window", "enabled")
    readonly_fields = ("kind",)

    def has_add_permission(self, request):
        return False  # one row per factor, made by the migration

    def has_delete_permission(self, request, obj=None):
        return False  # disable a rule instead

    @display(description="rule")
    def kind_label(self, rule):
        return rule.get_kind_display()

    def save_model(self, request, obj, form, change):
        risk_rule_save(rule=obj, actor=request.user)
        self.message_user(request, "Waiting tasks are being re-scored: see Risk re-scorings for progress.")


@admin.register(RiskRescore)
class RiskRescoreAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("id", "reason", "status", "progress", "level_changed", "sent_to_review", "created_by",
                    "created_at")  # fmt: skip
    list_filter = ("status",)
    list_select_related = ("created_by",)
    fields = ("reason", "status", "progress", "total", "processed", "level_changed", "sent_to_review", "error",
              "created_by", "created_at", "finished_at")  # fmt: skip
    readonly_fields = fields
    change_form_template = "admin/safety/riskrescore/change_form.html"
    actions_list = ("rescore_now",)

    def has_start_permission(self, request):
        return request.user.has_perm("safety.add_riskrescore")

    @display(description="progress")
    def progress(self, rescore):
        return format_html('<progress max="{}" value="{}" class="w-32 align-middle"></progress> {} / {} ({}%)',
                           rescore.total or 1, rescore.processed, rescore.processed, rescore.total,
                           rescore.percent_done)  # fmt: skip

    @action(description="Re-score waiting tasks now", icon="refresh", url_path="rescore", permissions=["start"])
    def rescore_now(self, request):
        if request.method != "POST":
            return form_page(self, request, title="Re-score every waiting task?", form=None, submit_label="",
                             template="admin/safety/rescore_confirm.html",
                             summary="Pending, queued and waiting-for-review tasks get their score from today's "
                                     "rules; those that now reach the review threshold go to review.",
                             back_url=reverse("admin:safety_riskrescore_changelist"))  # fmt: skip
        rescore = risk_rescore_start(reason="asked for from the admin", actor=request.user)
        return HttpResponseRedirect(reverse("admin:safety_riskrescore_change", args=[rescore.pk]))


RUNS_SHOWN = 20


class AuditRunInline(TabularInline):
    model = AuditRun
    fields = ("run_link", "verdict", "started_at", "finished_at", "acknowledged_by", "acknowledged_at")
    readonly_fields = fields
    ordering = ("-id",)
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    tab = True
    verbose_name_plural = "latest runs"  # the newest RUNS_SHOWN; all of them under Audit runs

    def get_queryset(self, request):
        latest = AuditRun.objects.filter(audit=OuterRef("audit")).order_by("-id").values("pk")[:RUNS_SHOWN]
        return super().get_queryset(request).filter(pk__in=Subquery(latest)).select_related("acknowledged_by")

    @display(description="run")
    def run_link(self, run):
        return format_html('<a href="{}">#{}</a>', reverse("admin:safety_auditrun_change", args=[run.pk]), run.pk)

    @display(description="outcome", label=RUN_COLOURS)
    def verdict(self, run):
        return run_verdict(run)

    def has_add_permission(self, request, obj=None):
        return False


def run_verdict(run: AuditRun) -> str:
    if run.passed is None:
        return "running"
    if run.passed:
        return "passed"
    return "acknowledged" if run.acknowledged_at else "failed"


@admin.register(SafetyAudit)
class SafetyAuditAdmin(HistoryAdmin, ModelAdmin):
    """Scheduled audits: a check, a cron schedule, a gate. "Run now" queues a run on a worker."""

    form = SafetyAuditForm
    list_display = ("name", "check_label", "schedule", "gate", "enabled", "last_outcome")
    list_filter = ("gate", "enabled")
    inlines = (AuditRunInline,)
    actions_detail = ("run_now",)

    def has_delete_permission(self, request, obj=None):
        return False  # disable an audit instead: its runs stay on record

    def has_run_permission(self, request, obj=None):
        return request.user.has_perm("safety.change_safetyaudit")

    @display(description="check")
    def check_label(self, audit):
        return CHECKS[audit.check_name][0] if audit.check_name in CHECKS else audit.check_name

    def get_queryset(self, request):
        latest = AuditRun.objects.filter(audit=OuterRef("pk")).order_by("-id")
        return super().get_queryset(request).annotate(
            last_passed=Subquery(latest.values("passed")[:1]), last_finished=Subquery(latest.values("finished_at")[:1]),
            last_acknowledged=Subquery(latest.values("acknowledged_at")[:1]), runs_count=Count("runs"),
        )  # fmt: skip

    @display(description="last run", label=RUN_COLOURS)
    def last_outcome(self, audit):
        if not getattr(audit, "runs_count", 0):
            return "-"
        run = AuditRun(passed=audit.last_passed, finished_at=audit.last_finished,
                       acknowledged_at=audit.last_acknowledged)  # fmt: skip
        return run_verdict(run)

    def save_model(self, request, obj, form, change):
        changed = {name: form.cleaned_data.get(name) for name in form.changed_data}
        safety_audit_save(audit=obj, actor=request.user, changed=changed, created=not change)

    @action(description="Run now", icon="play_arrow", url_path="run", permissions=["run"])
    def run_now(self, request, object_id):
        audit = get_object_or_404(SafetyAudit, pk=object_id)
        back = reverse("admin:safety_safetyaudit_change", args=[audit.pk])
        if request.method != "POST":
            return form_page(self, request, title=f"Run '{audit}' now?", form=None, submit_label="",
                             template="admin/safety/rescore_confirm.html", back_url=back,
                             summary="A worker runs it; its outcome appears under Latest runs.")  # fmt: skip
        try:
            audit_run_request(audit=audit, actor=request.user)
        except Exception as error:  # Redis away
            self.message_user(request, f"Not started: the job queue is unreachable ({error}).", messages.ERROR)
        else:
            self.message_user(request, f"'{audit}' queued; refresh in a moment for its outcome.", messages.SUCCESS)
        return HttpResponseRedirect(back)


@admin.register(AuditRun)
class AuditRunAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("id", "audit", "verdict", "started_at", "finished_at", "acknowledged_by")
    list_filter = ("passed", "audit")
    list_select_related = ("audit", "acknowledged_by")
    fields = ("audit", "verdict", "started_at", "finished_at", "figures_display", "evidence_display", "error",
              "triggered_by", "acknowledged_by", "acknowledged_at", "acknowledgement")  # fmt: skip
    readonly_fields = fields
    actions_detail = ("acknowledge",)

    def has_acknowledge_permission(self, request, obj=None):
        return request.user.has_perm("safety.change_auditrun") and request.user.has_perm(REVIEW_PERMISSION)

    def get_actions_detail(self, request, object_id):
        waiting = AuditRun.objects.filter(pk=object_id, passed=False, acknowledged_at__isnull=True).exists()
        return super().get_actions_detail(request, object_id) if waiting else []

    @display(description="outcome", label=RUN_COLOURS)
    def verdict(self, run):
        return run_verdict(run)

    @display(description="figures")
    def figures_display(self, run):
        return format_html_join("", "<div><b>{}</b>: {}</div>", ((key, value) for key, value in run.figures.items()))

    @display(description="evidence")
    def evidence_display(self, run):
        if not run.evidence:
            return "-"
        return format_html_join("", "<div>{}</div>", ((", ".join(f"{key}: {value}" for key, value in item.items())
                                                       if isinstance(item, dict) else str(item),)
                                                      for item in run.evidence))  # fmt: skip

    @action(description="Acknowledge", icon="verified", url_path="acknowledge", permissions=["acknowledge"])
    def acknowledge(self, request, object_id):
        run = get_object_or_404(AuditRun.objects.select_related("audit"), pk=object_id)
        back = reverse("admin:safety_auditrun_change", args=[run.pk])
        form = NoteForm(request.POST or None, label="What was found and done",
                        help_text="Acknowledging a failed 'pause' audit lets execution resume (when nothing else "
                                  "holds it).")  # fmt: skip
        if request.method == "POST" and form.is_valid():
            try:
                audit_run_acknowledge(run=run, reviewer=request.user, note=form.cleaned_data["note"])
            except ValidationError as refusal:
                self.message_user(request, "; ".join(refusal.messages), messages.ERROR)
            else:
                self.message_user(request, f"Run #{run.pk} acknowledged.", messages.SUCCESS)
            return HttpResponseRedirect(back)
        return form_page(self, request, title=f"Acknowledge failed run #{run.pk} of '{run.audit}'?", form=form,
                         submit_label="Acknowledge", back_url=back)  # fmt: skip
