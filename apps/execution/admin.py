from functools import partial

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action, display

from apps.core.admin_lists import LargeTableAdminMixin, values_list_filter
from apps.core.admin_site import HistoryAdmin, ReadOnlyAdminMixin, form_page

from .admin_views import holds_shown_to, queues_page, task_live, tasks_live
from .forms import (
    AIModelForm,
    EndpointApprovalForm,
    ExecutionSwitchForm,
    ExecutionTaskCreateForm,
    TaskDecisionForm,
    TaskPriorityForm,
)
from .models import AIModel, BulkOperation, ExecutionControl, ExecutionEvent, ExecutionTask, TaskType, error_summary
from .services import (
    ACTION_SOURCES,
    LIVE_STATUSES,
    ai_model_endpoint,
    ai_model_endpoint_approve,
    ai_model_save,
    bulk_operation_start,
    execution_control,
    execution_pause,
    execution_resume,
    task_create,
    task_priority_set,
    tasks_apply,
)
from .services.ai_models import APPROVE_PERMISSION, ENDPOINT_PERMISSION, GUARDED_FIELDS
from .services.review import REVIEW_PERMISSION

OPERATE_PERMISSION = "execution.change_executiontask"  # operators: enqueue, retry, cancel, reprioritise

Action = BulkOperation.Action
LIFECYCLE_LIMIT = 500  # events on a task's history page (a task has a handful; a retried one a few dozen)

DETAIL_ACTION_STATES = {  # task page button -> the statuses it is offered in
    "enqueue_task": ACTION_SOURCES[Action.ENQUEUE],
    "retry_task": ACTION_SOURCES[Action.RETRY],
    "cancel_task": ACTION_SOURCES[Action.CANCEL],
    "approve_task": ACTION_SOURCES[Action.APPROVE],
    "reject_task": ACTION_SOURCES[Action.REJECT],
    "set_priority": ACTION_SOURCES[Action.CANCEL],  # while it has not finished
}

STATUS_COLOURS = {  # keyed by the label shown, which is what unfold's badge receives
    ExecutionTask.Status.PENDING.label: "info",
    ExecutionTask.Status.NEEDS_REVIEW.label: "warning",
    ExecutionTask.Status.QUEUED.label: "info",
    ExecutionTask.Status.RUNNING.label: "primary",
    ExecutionTask.Status.SUCCEEDED.label: "success",
    ExecutionTask.Status.FAILED.label: "danger",
    ExecutionTask.Status.CANCELLED.label: "default",
}


BULK_STATUS_COLOURS = {
    BulkOperation.Status.QUEUED.label: "info",
    BulkOperation.Status.RUNNING.label: "primary",
    BulkOperation.Status.DONE.label: "success",
    BulkOperation.Status.FAILED.label: "danger",
}


def error_details(error: str):
    """The error's one-line summary, its whole traceback folded underneath."""
    if not error:
        return "-"
    return format_html(
        '<details class="max-w-3xl"><summary class="cursor-pointer text-red-700 dark:text-red-400">{}</summary>'
        '<pre class="mt-2 overflow-x-auto text-xs whitespace-pre-wrap">{}</pre></details>',
        error_summary(error), error,
    )  # fmt: skip


def duration_text(milliseconds: int | None) -> str:
    if milliseconds is None:
        return "-"
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    if milliseconds < 60_000:
        return f"{milliseconds / 1000:.1f} s"
    minutes, seconds = divmod(round(milliseconds / 1000), 60)
    return f"{minutes} min {seconds} s"


def user_name(user) -> str:
    """A user as text: the user admin is for superusers, so a link would be a 403 to everyone else."""
    return user.get_username() if user else "-"


@admin.register(AIModel)
class AIModelAdmin(HistoryAdmin, ModelAdmin):
    """Endpoint fields are editable only with the endpoint permission (superusers by default); a new or changed
    endpoint runs no task until someone with the approval permission approves it."""

    form = AIModelForm
    list_display = ("name", "provider", "base_url", "endpoint_label", "input_price_per_million",
                    "output_price_per_million", "is_active")  # fmt: skip
    list_filter = ("provider", "is_active")
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("name", "provider", "is_active")}),
        (
            "Endpoint",
            {"fields": ("base_url", "api_key_env", "endpoint_label", "endpoint_approved_by", "endpoint_approved_at")},
        ),  # fmt: skip
        ("Prices (empty = unknown)", {"fields": ("input_price_per_million", "output_price_per_million")}),
    )
    actions_detail = ("approve_endpoint",)

    @display(description="endpoint", label={"approved": "success", "awaits approval": "warning", "none": "default"})
    def endpoint_label(self, model):
        if not (model.base_url or model.api_key_env):
            return "none"
        return "approved" if model.endpoint_approved else "awaits approval"

    def get_readonly_fields(self, request, obj=None):
        readonly = ("endpoint_label", "endpoint_approved_by", "endpoint_approved_at")
        if not request.user.has_perm(ENDPOINT_PERMISSION):
            readonly += tuple(sorted(GUARDED_FIELDS))
        return readonly if obj is None else self._fields_for(request, readonly)

    def has_approve_endpoint_permission(self, request, obj=None):
        return request.user.has_perm(APPROVE_PERMISSION)

    def save_model(self, request, obj, form, change):
        ai_model_save(model=obj, actor=request.user)

    @action(description="Approve endpoint", icon="verified", url_path="approve-endpoint",
            permissions=["approve_endpoint"])  # fmt: skip
    def approve_endpoint(self, request, object_id):
        model = get_object_or_404(AIModel, pk=object_id)
        url = reverse("admin:execution_aimodel_change", args=[model.pk])
        seen = EndpointApprovalForm.encode(ai_model_endpoint(model))
        form = EndpointApprovalForm(request.POST if request.method == "POST" else None, initial={"endpoint": seen})
        if request.method == "POST" and form.is_valid():
            try:
                ai_model_endpoint_approve(model=model, actor=request.user, seen=form.cleaned_data["endpoint"])
            except (PermissionDenied, ValidationError) as refusal:
                problems = getattr(refusal, "messages", [str(refusal)])
                self.message_user(request, f"Not approved: {' '.join(problems)}", messages.ERROR)
            else:
                self.message_user(request, f"The endpoint of {model} is approved: its tasks run again.")
            return HttpResponseRedirect(url)
        summary = (
            f"{model}: {model.get_provider_display()}, {model.base_url or 'no URL'}, key from "
            f"{model.api_key_env or 'no variable'}. Tasks on this model send their prompts and this key there."
        )
        return form_page(self, request, title=f"Approve the endpoint of {model}?", summary=summary,
                         form=form, submit_label="Approve endpoint", back_url=url)  # fmt: skip


@admin.register(TaskType)
class TaskTypeAdmin(HistoryAdmin, ModelAdmin):
    list_display = ("slug", "executor", "rating", "requires_review", "audit_trail", "timeout_seconds", "max_attempts")
    list_filter = ("risk_level", "requires_review", "executor", "audit_trail")
    search_fields = ("slug", "description")
    readonly_fields = ("risk_level", "risk_rated_at", "risk_rated_by")
    actions_detail = ("rate_risk", "report_concern")

    @display(description="risk rating", label={"unrated": "danger", "high": "warning", "medium": "info",
                                                "low": "success"})  # fmt: skip
    def rating(self, task_type):
        return task_type.risk_level if task_type.is_rated else "unrated"

    def has_review_permission(self, request, obj=None):
        return request.user.has_perm(REVIEW_PERMISSION)

    def has_concern_permission(self, request, obj=None):
        return request.user.has_perm("safety.add_concern")

    @action(description="Rate risk", icon="shield", url_path="rate", permissions=["review"])
    def rate_risk(self, request, object_id):
        return HttpResponseRedirect(reverse("admin:safety_task_type_rate", args=[object_id]))  # the safety app's page

    @action(description="Report a concern", icon="flag", url_path="concern", permissions=["concern"])
    def report_concern(self, request, object_id):
        return HttpResponseRedirect(f"{reverse('admin:safety_concern_add')}?task_type={int(object_id)}")


class EventColumns:
    """How an event reads, in the task page's timeline and in the events list alike."""

    @display(description="error")
    def error_display(self, event):
        return error_details(event.error)

    @display(description="error")
    def error_line(self, event):
        return error_summary(event.error, limit=80) or "-"

    @display(description="duration", ordering="duration_ms")
    def duration(self, event):
        return duration_text(event.duration_ms)

    @display(description="by")
    def actor_name(self, event):
        return user_name(event.actor)


class ExecutionEventInline(EventColumns, ReadOnlyAdminMixin, TabularInline):
    model = ExecutionEvent
    fields = ("created_at", "kind", "ai_model", "message", "error_display", "duration", "actor_name")
    readonly_fields = fields
    ordering = ("created_at", "id")
    extra = 0
    tab = True
    verbose_name_plural = "events timeline"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(ExecutionTask)
class ExecutionTaskAdmin(LargeTableAdminMixin, HistoryAdmin, ModelAdmin):
    add_form = ExecutionTaskCreateForm
    object_history_template = "admin/execution/executiontask/object_history.html"
    list_before_template = "admin/execution/executiontask/list_before.html"  # counts by status, live rows
    change_form_before_template = "admin/execution/executiontask/live_task.html"
    list_display = (
        "id",
        "task_type",
        "ai_model",
        "status_label",
        "priority",
        "attempts",
        "duration",
        "cost",
        "created_at",
        "last_error",
    )
    list_display_links = ("id", "task_type")
    list_filter = ("status", "task_type", "ai_model", "created_at")
    list_select_related = ("task_type", "ai_model")
    exact_search_fields = ("id", "rq_job_id")
    search_help_text = "Task id or RQ job id"
    sortable_by = ("id", "created_at")  # what the indexes order; any other column would sort the whole table
    inlines = (ExecutionEventInline,)
    fieldsets = (
        (None, {"fields": ("task_type", "ai_model", "status", "priority", "created_by_name", "cancel_requested")}),
        ("Model assignment", {"fields": ("requested_ai_model", "model_assignment", "rollout")}),
        ("Risk and review", {"fields": ("risk_label", "risk_breakdown_display", "money_at_stake", "review_assignee")}),
        ("Input and output", {"fields": ("payload", "result", "error_display")}),
        ("Timing", {"fields": ("created_at", "queued_at", "started_at", "finished_at", "duration", "attempts")}),
        ("Usage and cost", {"fields": ("input_tokens", "output_tokens", "cost_display", "rq_job_id")}),
    )
    add_fieldsets = ((None, {"fields": ("task_type", "ai_model", "priority", "payload")}),)
    actions = ("enqueue_selected", "retry_failed", "cancel_selected", "approve_selected", "reject_selected")
    actions_list = ("queue_statistics",)  # the switch and bulk operations are in the sidebar
    actions_detail = ("enqueue_task", "retry_task", "cancel_task", "approve_task", "reject_task", "set_priority",
                      "report_concern")  # fmt: skip

    @display(description="risk")
    def risk_label(self, task):
        return f"{task.risk_level}: score {task.risk_score} of 100"

    @display(description="why")
    def risk_breakdown_display(self, task):
        lines = task.risk_breakdown or []
        if not lines:
            return "no rule added points"
        return format_html('<ul id="risk-breakdown">{}</ul>', format_html_join(
            "", '<li><span class="font-semibold">+{}</span> {}</li>', ((line["points"], line["why"]) for line in lines)
        ))  # fmt: skip

    def has_concern_permission(self, request, obj=None):
        return self.has_view_permission(request) and request.user.has_perm("safety.add_concern")

    @action(description="Report a concern", icon="flag", url_path="concern", permissions=["concern"])
    def report_concern(self, request, object_id):
        return HttpResponseRedirect(f"{reverse('admin:safety_concern_add')}?task={int(object_id)}")

    @display(description="status", ordering="status", label=STATUS_COLOURS)
    def status_label(self, task):
        return task.get_status_display()

    @display(description="error")
    def error_display(self, task):
        return error_details(task.error)

    @display(description="last error")
    def last_error(self, task):
        return error_summary(task.error, limit=80) or "-"

    @display(description="duration", ordering="duration_ms")
    def duration(self, task):
        return duration_text(task.duration_ms)

    @display(description="created by")
    def created_by_name(self, task):
        return user_name(task.created_by)

    @display(description="cost")
    def cost_display(self, task):
        return "unknown (the model has no prices, or no token counts came back)" if task.cost is None else task.cost

    def has_review_permission(self, request, obj=None):
        return request.user.has_perm(REVIEW_PERMISSION)

    def has_operate_permission(self, request, obj=None):
        return request.user.has_perm(OPERATE_PERMISSION)

    def get_actions_detail(self, request, object_id):
        """A task page offers an action only while the task's state allows it (permissions say who may)."""
        status = ExecutionTask.objects.filter(pk=object_id).values_list("status", flat=True).first()
        return [
            button for button in super().get_actions_detail(request, object_id)
            if status in DETAIL_ACTION_STATES.get(button.method.__name__, (status,))
        ]  # fmt: skip

    def has_change_permission(self, request, obj=None):
        return False  # a task's page is for reading: every change is an action that goes through a service

    def has_delete_permission(self, request, obj=None):
        return False  # a task is a record (ROI, audit, its report): cancel it instead

    def get_urls(self):
        live = [
            path("live/", self.admin_site.admin_view(partial(tasks_live, self)), name="execution_executiontask_live"),
            path("<path:object_id>/live/", self.admin_site.admin_view(partial(task_live, self)),
                 name="execution_executiontask_live_task"),
        ]  # fmt: skip
        return live + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        status = ExecutionTask.objects.filter(pk=object_id).values_list("status", flat=True).first()
        extra_context = {**(extra_context or {}), "task_live": status in LIVE_STATUSES}
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        """Status changes are set-based UPDATEs that django-simple-history never sees: the history page leads
        with the task's lifecycle from its events (who, when, why), then the recorded field changes."""
        lifecycle = ExecutionEvent.objects.filter(task_id=object_id).select_related("actor").order_by("created_at",
                                                                                                     "pk")  # fmt: skip
        extra_context = {**(extra_context or {}), "lifecycle": [
            {"at": event.created_at, "kind": event.get_kind_display(), "message": event.message,
             "error": error_summary(event.error), "by": user_name(event.actor) if event.actor_id else "system",
             "duration": duration_text(event.duration_ms) if event.duration_ms is not None else ""}
            for event in lifecycle[:LIFECYCLE_LIMIT]
        ], "lifecycle_limit": LIFECYCLE_LIMIT}  # fmt: skip
        return super().history_view(request, object_id, extra_context)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        fields = tuple(field for _, options in self.fieldsets for field in options["fields"])  # a page for reading
        return self._fields_for(request, fields)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
        created = task_create(created_by=request.user, **fields)
        obj.pk = created.pk  # the admin logs and redirects using `obj`
        obj.refresh_from_db()

    # Bulk actions: on the rows ticked, or on every task matching the filters ("Select all").
    @admin.action(description="Enqueue selected pending tasks", permissions=["operate"])
    def enqueue_selected(self, request, queryset):
        return self._bulk(request, queryset, Action.ENQUEUE)

    @admin.action(description="Retry selected failed tasks", permissions=["operate"])
    def retry_failed(self, request, queryset):
        return self._bulk(request, queryset, Action.RETRY)

    @admin.action(description="Cancel selected tasks", permissions=["operate"])
    def cancel_selected(self, request, queryset):
        return self._bulk(request, queryset, Action.CANCEL)

    @admin.action(description="Approve selected tasks (reviewers)", permissions=["review"])
    def approve_selected(self, request, queryset):
        return self._bulk(request, queryset, Action.APPROVE)

    @admin.action(description="Reject selected tasks (reviewers)", permissions=["review"])
    def reject_selected(self, request, queryset):
        return self._bulk(request, queryset, Action.REJECT)

    def _bulk(self, request, queryset, bulk_action):
        criteria = request.GET.urlencode() or "no filters"
        if request.POST.get("select_across") != "1":
            criteria = f"rows ticked on the page ({criteria})"
        try:
            operation = bulk_operation_start(
                action=bulk_action, task_ids=list(queryset.values_list("pk", flat=True)), actor=request.user,
                criteria=criteria,
            )  # fmt: skip
        except (PermissionDenied, ValidationError) as refusal:
            self.message_user(request, "; ".join(getattr(refusal, "messages", [str(refusal)])), messages.ERROR)
            return None
        url = reverse("admin:execution_bulkoperation_change", args=[operation.pk])
        if not operation.is_finished:
            self.message_user(
                request, format_html('{} runs in the background: <a href="{}">follow its progress</a>.', operation, url)
            )
            return HttpResponseRedirect(url)
        level = (
            messages.WARNING if operation.problems or operation.status == operation.Status.FAILED else messages.SUCCESS
        )
        self.message_user(
            request, format_html('{}: <a href="{}">{}</a>', operation, url, bulk_summary(operation)), level
        )
        return None

    # The button on top of the task list.
    @action(description="Queues and workers", icon="monitoring", url_path="queues", permissions=["operate"])
    def queue_statistics(self, request):
        return queues_page(self, request, can_act=self.has_operate_permission(request))

    # Buttons on one task's page: each asks for confirmation (POST with CSRF) before acting.
    @action(description="Enqueue", icon="play_arrow", url_path="enqueue", permissions=["operate"])
    def enqueue_task(self, request, object_id):
        return self._task_action_page(request, object_id, Action.ENQUEUE)

    @action(description="Retry", icon="replay", url_path="retry", permissions=["operate"])
    def retry_task(self, request, object_id):
        return self._task_action_page(request, object_id, Action.RETRY)

    @action(description="Cancel", icon="cancel", url_path="cancel", permissions=["operate"])
    def cancel_task(self, request, object_id):
        return self._task_action_page(request, object_id, Action.CANCEL)

    @action(description="Approve", icon="check_circle", url_path="approve", permissions=["review"])
    def approve_task(self, request, object_id):
        return self._task_action_page(request, object_id, Action.APPROVE)

    @action(description="Reject", icon="block", url_path="reject", permissions=["review"])
    def reject_task(self, request, object_id):
        return self._task_action_page(request, object_id, Action.REJECT)

    @action(description="Priority", icon="low_priority", url_path="priority", permissions=["operate"])
    def set_priority(self, request, object_id):
        task = get_object_or_404(ExecutionTask, pk=object_id)
        task_url = reverse("admin:execution_executiontask_change", args=[task.pk])
        form = TaskPriorityForm(request.POST if request.method == "POST" else None, initial={"priority": task.priority})
        if request.method == "POST" and form.is_valid():
            task_priority_set(task=task, priority=form.cleaned_data["priority"])
            self.message_user(request, f"Task #{task.pk} now has priority {task.priority}.")
            return HttpResponseRedirect(task_url)
        return form_page(
            self, request, title=f"Priority of task #{task.pk}", form=form, submit_label="Save priority",
            summary=f"Task #{task.pk}: {task.task_type} on {task.ai_model_id}, now {task.status}.", back_url=task_url,
        )  # fmt: skip

    def _task_action_page(self, request, object_id, task_action):
        task = get_object_or_404(ExecutionTask.objects.select_related("task_type"), pk=object_id)
        task_url = reverse("admin:execution_executiontask_change", args=[task.pk])
        form = TaskDecisionForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            changed, problems = tasks_apply(
                action=task_action, task_ids=[task.pk], actor=request.user, comment=form.cleaned_data["comment"]
            )
            task.refresh_from_db()
            if changed:
                self.message_user(request, action_done(task_action, task), messages.SUCCESS)
            else:
                why = "; ".join(problems) or f"it is {task.get_status_display().lower()}"
                self.message_user(request, f"Task #{task.pk} was not {VERBS_DONE[task_action]}: {why}.", messages.ERROR)
            return HttpResponseRedirect(task_url)
        if task_action not in (Action.APPROVE, Action.REJECT):
            del form.fields["comment"]
        return form_page(
            self, request, title=f"{BUTTONS[task_action]} task #{task.pk}?", form=form,
            summary=f"{QUESTIONS[task_action]} Task #{task.pk}: {task.task_type} on {task.ai_model_id}, "
                    f"{task.get_status_display().lower()}, attempt {task.attempts} of {task.task_type.max_attempts}.",
            submit_label=BUTTONS[task_action], back_url=task_url,
        )  # fmt: skip


BUTTONS = {Action.ENQUEUE: "Enqueue", Action.RETRY: "Retry", Action.CANCEL: "Cancel", Action.APPROVE: "Approve",
           Action.REJECT: "Reject"}  # fmt: skip
VERBS_DONE = {Action.ENQUEUE: "queued", Action.RETRY: "queued again", Action.CANCEL: "cancelled",
              Action.APPROVE: "approved", Action.REJECT: "rejected"}  # fmt: skip


QUESTIONS = {
    Action.ENQUEUE: "Put this task in the queue? A worker runs it on its AI model.",
    Action.RETRY: "Run this failed task again? It goes back in the queue for one more attempt.",
    Action.CANCEL: "Cancel this task? A waiting task never runs; a running one stops at its next safe point.",
    Action.APPROVE: "Approve this task? It may then run (you cannot approve a task you created).",
    Action.REJECT: "Reject this task? It is cancelled and never runs; say why.",
}


def action_done(task_action: str, task: ExecutionTask) -> str:
    """What an action on one task did, in words an operator reads at a glance."""
    if task_action == Action.RETRY:
        return f"Task #{task.pk} queued again (attempt {task.attempts + 1} of {task.task_type.max_attempts})."
    if task_action == Action.CANCEL and task.status == ExecutionTask.Status.RUNNING:
        return f"Task #{task.pk}: cancellation requested; it stops at its next safe point."
    if task_action == Action.APPROVE:
        return f"Task #{task.pk} approved; it is now {task.get_status_display().lower()}."
    if task_action == Action.REJECT:
        return f"Task #{task.pk} rejected; it is cancelled and will not run."
    return f"Task #{task.pk} {VERBS_DONE[task_action]}."


def bulk_summary(operation: BulkOperation) -> str:
    summary = f"{operation.changed} changed, {operation.skipped} skipped (not in a state the action applies to)"
    if operation.problems:
        summary += f"; refused: {operation.problems[0]}" + (" …" if len(operation.problems) > 1 else "")
    return summary + (f"; error: {operation.error}" if operation.error else "")


@admin.register(ExecutionEvent)
class ExecutionEventAdmin(LargeTableAdminMixin, EventColumns, ReadOnlyAdminMixin, ModelAdmin):
    """Every task's events, newest first; each links to its task, whose page has the whole timeline."""

    list_display = ("created_at", "task_link", "kind", "ai_model", "message", "error_line", "duration", "actor_name")
    list_filter = (
        "kind", values_list_filter("ai_model", "AI model", lambda: AIModel.objects.values_list("name", flat=True)),
        "created_at",
    )  # fmt: skip
    list_select_related = ("task__task_type", "actor")
    ordering = ("-created_at", "-id")
    exact_search_fields = ("task",)
    search_help_text = "Task id"
    sortable_by = ("created_at",)
    readonly_fields = ("created_at", "task_link", "kind", "ai_model", "message", "error_display", "duration",
                       "actor_name")  # fmt: skip
    fields = readonly_fields

    @display(description="task")
    def task_link(self, event):
        url = reverse("admin:execution_executiontask_change", args=[event.task_id])
        return format_html('<a href="{}" class="text-primary-600">{}</a>', url, event.task)


@admin.register(BulkOperation)
class BulkOperationAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """What bulk actions did and how far along they are; the page refreshes itself until the work is done."""

    list_display = ("id", "action", "status_label", "progress", "changed", "skipped", "created_by", "created_at")
    list_filter = ("action", "status", "created_at")
    list_select_related = ("created_by",)
    show_full_result_count = False
    fields = (
        "action", "status", "progress", "total", "processed", "changed", "skipped", "problems", "error",
        "criteria", "comment", "created_by", "created_at", "started_at", "finished_at", "rq_job_id",
    )  # fmt: skip
    readonly_fields = fields
    change_form_template = "admin/execution/bulkoperation/change_form.html"

    @display(description="status", ordering="status", label=BULK_STATUS_COLOURS)
    def status_label(self, operation):
        return operation.get_status_display()

    @display(description="progress")
    def progress(self, operation):
        return format_html(
            '<progress max="{}" value="{}" class="w-32 align-middle"></progress> {} / {} ({}%)',
            operation.total, operation.processed, operation.processed, operation.total, operation.percent_done,
        )  # fmt: skip


@admin.register(ExecutionControl)
class ExecutionControlAdmin(HistoryAdmin, ModelAdmin):
    """The pause switch: its page shows the state and, to those allowed, the form that flips it."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("execution.pause_execution")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The generic form would write `paused` past the holds (blocking reports): only the switch page flips it.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:execution_executioncontrol_changelist"))

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        control = execution_control()
        can_switch = self.has_change_permission(request)
        data = request.POST if request.method == "POST" else None
        form = ExecutionSwitchForm(data, paused=control.paused)
        if data is not None:
            if not can_switch:
                raise PermissionDenied
            if form.is_valid():
                switch = execution_resume if control.paused else execution_pause
                try:
                    switch(actor=request.user, reason=form.cleaned_data["reason"])
                except ValidationError as refusal:
                    form.add_error(None, refusal)
                else:
                    self.message_user(request, "Execution resumed." if control.paused else "Execution paused.")
                    return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "title": "Execution switch",
            "opts": self.opts,
            "control": control,
            "form": form if can_switch else None,
            "changes": control.history.select_related("history_user")[:20],
            "holds": holds_shown_to(request.user),
        }
        return TemplateResponse(request, "admin/execution/executioncontrol/switch.html", context)
