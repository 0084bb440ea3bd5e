import csv

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.decorators import display

from apps.core.admin_lists import LargeTableAdminMixin, distinct_values, values_list_filter
from apps.core.admin_site import ReadOnlyAdminMixin

from .models import AuditLog

CSV_ROWS_MAX = 100_000
CSV_COLUMNS = ("id", "created_at", "actor_label", "action", "object_type", "object_id", "object_repr", "summary",
               "details", "chain_position", "prev_hash", "hash")  # fmt: skip


class ActorFilter(admin.SimpleListFilter):
    """By who acted: people from the users table (small), or "system" for jobs, webhooks and the scheduler."""

    title = "actor"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        people = get_user_model().objects.filter(is_staff=True).order_by("username").values_list("pk", "username")
        return [("system", "system (no person)"), *[(str(pk), name) for pk, name in people]]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == "system":
            return queryset.filter(actor__isnull=True)
        return queryset.filter(actor_id=int(value)) if value.isdigit() else queryset.none()


def csv_cell(value) -> str:
    """A spreadsheet must not run what someone typed: text starting like a formula is quoted with '."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@admin.register(AuditLog)
class AuditLogAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    """Read-only: rows are written by services in the transaction of what they record, and the database refuses
    any change to them."""

    list_display = ("id", "created_at", "actor_label", "action", "object_link", "summary_line")
    list_filter = (ActorFilter, values_list_filter("action", "action", lambda: distinct_values(AuditLog, "action")),
                   values_list_filter("object_type", "object type", lambda: distinct_values(AuditLog, "object_type")),
                   ("created_at", admin.DateFieldListFilter))  # fmt: skip
    exact_search_fields = ("id", "object_id")
    search_help_text = "Audit row id, or the id of the object acted on"
    sortable_by = ("id",)
    list_before_template = "admin/auditlog/auditlog/list_before.html"
    fields = ("id", "created_at", "actor", "actor_label", "action", "object_type", "object_id", "object_repr",
              "summary", "details", "chain_position", "prev_hash", "hash")  # fmt: skip
    readonly_fields = fields

    def _filter_parameters(self) -> set[str]:
        return super()._filter_parameters() | {"created_at"}

    @display(description="object")
    def object_link(self, row):
        label = row.object_repr or f"{row.object_type} {row.object_id}"
        app_label, _, model = row.object_type.partition(".")
        try:
            url = reverse("admin:object_story", args=[app_label, model, row.object_id])
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    @display(description="summary")
    def summary_line(self, row):
        return row.summary if len(row.summary) <= 100 else row.summary[:99] + "…"

    def get_urls(self):
        export = path("export.csv", self.admin_site.admin_view(self.export_csv), name="auditlog_auditlog_export")
        return [export, *super().get_urls()]

    def export_csv(self, request):
        """The rows the list shows, with its filters, as CSV (at most CSV_ROWS_MAX, newest first)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            rows = self.get_changelist_instance(request).get_queryset(request).order_by("-id")[:CSV_ROWS_MAX]
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("Those filters are not the audit log's.", content_type="text/plain")
        writer = csv.writer(_Line())

        def lines():
            yield writer.writerow(CSV_COLUMNS)
            for row in rows.iterator(chunk_size=2000):
                yield writer.writerow([csv_cell(getattr(row, column)) for column in CSV_COLUMNS])

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
        return response


class _Line:
    """csv.writer's file: hands each written line back instead of storing it (the response streams them)."""

    def write(self, value):
        return value
