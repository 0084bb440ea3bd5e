from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display

from .forms import ExecutionTaskCreateForm
from .models import AIModel, ExecutionEvent, ExecutionTask, TaskType
from .services import task_create

STATUS_COLOURS = {  # keyed by the label shown, which is what unfold's badge receives
    ExecutionTask.Status.PENDING.label: "info",
    ExecutionTask.Status.NEEDS_REVIEW.label: "warning",
    ExecutionTask.Status.QUEUED.label: "info",
    ExecutionTask.Status.RUNNING.label: "primary",
    ExecutionTask.Status.SUCCEEDED.label: "success",
    ExecutionTask.Status.FAILED.label: "danger",
    ExecutionTask.Status.CANCELLED.label: "default",
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
class AIModelAdmin(SimpleHistoryAdmin, ModelAdmin):
    list_display = ("name", "provider", "base_url", "input_price_per_million", "output_price_per_million", "is_active")
    list_filter = ("provider", "is_active")
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("name", "provider", "is_active")}),
        ("Endpoint", {"fields": ("base_url", "api_key_env")}),
        ("Prices (empty = unknown)", {"fields": ("input_price_per_million", "output_price_per_million")}),
    )


@admin.register(TaskType)
class TaskTypeAdmin(SimpleHistoryAdmin, ModelAdmin):
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
class ExecutionTaskAdmin(SimpleHistoryAdmin, ModelAdmin):
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
        (None, {"fields": ("task_type", "ai_model", "status", "priority", "created_by")}),
        ("Input and output", {"fields": ("payload", "result", "error")}),
        ("Timing", {"fields": ("created_at", "queued_at", "started_at", "finished_at", "duration_ms", "attempts")}),
        ("Usage and cost", {"fields": ("input_tokens", "output_tokens", "cost", "rq_job_id")}),
    )
    add_fieldsets = ((None, {"fields": ("task_type", "ai_model", "priority", "payload")}),)

    @display(description="status", ordering="status", label=STATUS_COLOURS)
    def status_label(self, task):
        return task.get_status_display()

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # Status and run data change only through services; the form edits nothing but priority.
        return tuple(field for fieldset in self.fieldsets for field in fieldset[1]["fields"] if field != "priority")

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["priority"])  # never write back a status a worker may have moved
            return
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
        created = task_create(created_by=request.user, **fields)
        obj.pk = created.pk  # the admin logs and redirects using `obj`
        obj.refresh_from_db()


@admin.register(ExecutionEvent)
class ExecutionEventAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("created_at", "task", "kind", "ai_model", "message", "duration_ms", "actor")
    list_filter = ("kind", "ai_model", "created_at")
    list_select_related = ("task__task_type", "actor")
    search_fields = ("=task__id",)
    search_help_text = "Task id"
    show_full_result_count = False
