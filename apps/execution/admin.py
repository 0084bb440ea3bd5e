from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action, display
from unfold.utils import prettify_traceback

from apps.core.admin_site import HistoryAdmin, form_page

from .forms import (
    AIModelForm,
    EndpointApprovalForm,
    ExecutionSwitchForm,
    ExecutionTaskCreateForm,
    TaskDecisionForm,
    TaskPriorityForm,
)
from .models import AIModel, BulkOperation, ExecutionControl, ExecutionEvent, ExecutionTask, TaskType
from .services import (
    ai_model_endpoint,
    ai_model_endpoint_approve,
    ai_model_save,
    bulk_operation_start,
    execution_control,
    execution_holds,
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


class ReadOnlyAdminMixin:
    """For rows written only by services (events, audit): visible, never edited by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
        return readonly

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
    list_display = ("slug", "executor", "risk_level", "requires_review", "timeout_seconds", "max_attempts")
    list_filter = ("risk_level", "requires_review", "executor")
    search_fields = ("slug", "description")


class ExecutionEventInline(ReadOnlyAdminMixin, TabularInline):
    model = ExecutionEvent
    fields = ("created_at", "kind", "ai_model", "message", "error", "duration_ms", "actor")
    readonly_fields = fields
    ordering = ("created_at", "id")
    extra = 0
    tab = True
    verbose_name_plural = "events timeline"


@admin.register(ExecutionTask)
class ExecutionTaskAdmin(HistoryAdmin, ModelAdmin):
    add_form = ExecutionTaskCreateForm
    list_display = (
        "id",
        "task_type",
        "ai_model",
        "status_label",
        "priority",
        "attempts",
        "duration_ms",
        "cost",
        "created_at",
    )
    list_display_links = ("id", "task_type")
    list_filter = ("status", "task_type", "ai_model", "created_at")
    list_select_related = ("task_type",)
    search_fields = ("=id", "=rq_job_id")
    search_help_text = "Task id or RQ job id"
    show_full_result_count = False
    list_per_page = 50
    inlines = (ExecutionEventInline,)
    fieldsets = (
        (None, {"fields": ("task_type", "ai_model", "status", "priority", "created_by", "cancel_requested")}),
        ("Input and output", {"fields": ("payload", "result", "error_traceback")}),
        ("Timing", {"fields": ("created_at", "queued_at", "started_at", "finished_at", "duration_ms", "attempts")}),
        ("Usage and cost", {"fields": ("input_tokens", "output_tokens", "cost_display", "rq_job_id")}),
    )
    add_fieldsets = ((None, {"fields": ("task_type", "ai_model", "priority", "payload")}),)
    actions = ("enqueue_selected", "retry_failed", "cancel_selected", "approve_selected", "reject_selected")
    actions_list = ("execution_switch", "bulk_operations", "queue_statistics")
    actions_detail = ("enqueue_task", "retry_task", "cancel_task", "approve_task", "reject_task", "set_priority")

    @display(description="status", ordering="status", label=STATUS_COLOURS)
    def status_label(self, task):
        return task.get_status_display()

    @display(description="error")
    def error_traceback(self, task):
        return prettify_traceback(task.error) if task.error else "-"

    @display(description="cost")
    def cost_display(self, task):
        return "unknown (the model has no prices, or no token counts came back)" if task.cost is None else task.cost

    def has_review_permission(self, request, obj=None):
        return request.user.has_perm(REVIEW_PERMISSION)

    def has_operate_permission(self, request, obj=None):
        return request.user.has_perm(OPERATE_PERMISSION)

    def has_change_permission(self, request, obj=None):
        return False  # a task's page is for reading: every change is an action that goes through a service

    def has_delete_permission(self, request, obj=None):
        return False  # a task is a record (ROI, audit, its report): cancel it instead

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return tuple(field for _, options in self.fieldsets for field in options["fields"])  # a page for reading

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

    # Buttons on top of the task list.
    @action(description="Pause / resume execution", icon="pause_circle", url_path="execution-switch",
            permissions=["view"])  # fmt: skip
    def execution_switch(self, request):
        return HttpResponseRedirect(reverse("admin:execution_executioncontrol_changelist"))

    @action(description="Bulk operations", icon="checklist", url_path="bulk-operations", permissions=["view"])
    def bulk_operations(self, request):
        return HttpResponseRedirect(reverse("admin:execution_bulkoperation_changelist"))

    @action(description="Queues and workers", icon="monitoring", url_path="queue-statistics", permissions=["operate"])
    def queue_statistics(self, request):
        return HttpResponseRedirect(reverse("django_rq:home"))

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
            if changed:
                self.message_user(request, f"{Action(task_action).label}: done for task #{task.pk}.")
            else:
                task.refresh_from_db()
                why = "; ".join(problems) or f"task #{task.pk} is {task.status}"
                self.message_user(request, f"{Action(task_action).label} refused: {why}.", messages.ERROR)
            return HttpResponseRedirect(task_url)
        if task_action not in (Action.APPROVE, Action.REJECT):
            del form.fields["comment"]
        return form_page(
            self, request, title=f"{Action(task_action).label} task #{task.pk}?", form=form,
            summary=f"Task #{task.pk}: {task.task_type} on {task.ai_model_id}, now {task.status}.",
            submit_label=Action(task_action).label, back_url=task_url,
        )  # fmt: skip


def bulk_summary(operation: BulkOperation) -> str:
    summary = f"{operation.changed} changed, {operation.skipped} skipped (not in a state the action applies to)"
    if operation.problems:
        summary += f"; refused: {operation.problems[0]}" + (" …" if len(operation.problems) > 1 else "")
    return summary + (f"; error: {operation.error}" if operation.error else "")


@admin.register(ExecutionEvent)
class ExecutionEventAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("created_at", "task", "kind", "ai_model", "message", "duration_ms", "actor")
    list_filter = ("kind", "ai_model", "created_at")
    list_select_related = ("task__task_type", "actor")
    search_fields = ("=task__id",)
    search_help_text = "Task id"
    show_full_result_count = False


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
            "holds": execution_holds(),
        }
        return TemplateResponse(request, "admin/execution/executioncontrol/switch.html", context)
