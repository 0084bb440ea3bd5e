from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from apps.core.admin_lists import LargeTableAdminMixin, distinct_values, values_list_filter
from apps.core.admin_site import HistoryAdmin, form_page
from apps.execution.models import TaskType

from .forms import ProposalDecisionForm, ProposalTasksForm, ProposalUploadForm
from .models import Proposal
from .rendering import markdown_to_safe_html
from .services import (
    REVIEW_PERMISSION,
    FSARParseError,
    proposal_accept,
    proposal_acknowledge,
    proposal_implemented,
    proposal_ingest,
    proposal_reject,
    proposal_tasks_create,
    report_size_check,
)

STATUS_COLOURS = {
    Proposal.Status.NEW.label: "warning",
    Proposal.Status.ACKNOWLEDGED.label: "info",
    Proposal.Status.ACCEPTED.label: "primary",
    Proposal.Status.REJECTED.label: "default",
    Proposal.Status.IMPLEMENTED.label: "success",
}
DECISIONS = {  # action: (button, service, comment required, done)
    "acknowledge": ("Acknowledge", proposal_acknowledge, False, "acknowledged"),
    "accept": ("Accept", proposal_accept, False, "accepted"),
    "reject": ("Reject", proposal_reject, True, "rejected"),
}


class SeverityFilter(admin.SimpleListFilter):
    title = "severity"
    parameter_name = "severity_band"

    def lookups(self, request, model_admin):
        threshold = settings.PROPOSALS_HIGHLIGHT_SEVERITY
        return [("high", f"{threshold} and above (highlighted)"), ("low", f"below {threshold}")]

    def queryset(self, request, queryset):
        threshold = settings.PROPOSALS_HIGHLIGHT_SEVERITY
        if self.value() == "high":
            return queryset.filter(severity__gte=threshold)
        if self.value() == "low":
            return queryset.filter(severity__lt=threshold)
        return queryset


@admin.register(Proposal)
class ProposalAdmin(LargeTableAdminMixin, HistoryAdmin, ModelAdmin):
    list_display = (
        "title", "category", "severity_label", "block_flag", "status_label", "reported_at", "report_id",
    )  # fmt: skip
    list_display_links = ("title",)
    list_filter = (
        "status", SeverityFilter,
        values_list_filter("severity", "severity (exact)", lambda: distinct_values(Proposal, "severity")),
        values_list_filter("category", "category", lambda: distinct_values(Proposal, "category")),
        "block_execution", "reported_at",
    )  # fmt: skip
    exact_search_fields = ("report_id",)
    full_text_search = ("body", "english")
    search_help_text = "Words in the report body, or its exact id"
    sortable_by = ("reported_at",)
    fieldsets = (
        (None, {"fields": ("report_id", "severity_display", "category", "block_execution", "reported_at",
                           "received_at", "source")}),
        ("Proposal", {"fields": ("body_rendered",), "classes": ["tab"]}),
        ("Risks and mitigations", {"fields": ("risks_list", "mitigations_list"), "classes": ["tab"]}),
        ("Decision", {"fields": ("status_label", "reviewer_comment", "acknowledged_by_name", "acknowledged_at",
                                 "decided_by_name", "decided_at", "implemented_by_name", "implemented_at", "lead_time",
                                 "task_links"), "classes": ["tab"]}),
        ("Raw report", {"fields": ("raw_text_block",), "classes": ["tab"]}),
    )  # fmt: skip
    readonly_fields = tuple(field for _, options in fieldsets for field in options["fields"])
    actions_list = ("upload_reports",)
    actions_detail = ("acknowledge", "accept", "reject", "create_tasks", "mark_implemented")

    @display(description="status", ordering="status", label=STATUS_COLOURS)
    def status_label(self, proposal):
        return proposal.get_status_display()

    @display(description="title")
    def title(self, proposal):
        return proposal.title

    @display(description="blocks execution", ordering="block_execution", label={"blocks": "danger", "-": "default"})
    def block_flag(self, proposal):
        return "blocks" if proposal.block_execution else "-"

    # People as text: the user admin is for superusers, so a link would be a 403 to reviewers.
    @display(description="acknowledged by")
    def acknowledged_by_name(self, proposal):
        return proposal.acknowledged_by.get_username() if proposal.acknowledged_by else "-"

    @display(description="decided by")
    def decided_by_name(self, proposal):
        return proposal.decided_by.get_username() if proposal.decided_by else "-"

    @display(description="implemented by")
    def implemented_by_name(self, proposal):
        return proposal.implemented_by.get_username() if proposal.implemented_by else "-"

    @display(description="severity", ordering="severity", label={"high": "danger", "normal": "default"})
    def severity_label(self, proposal):
        band = "high" if proposal.severity >= settings.PROPOSALS_HIGHLIGHT_SEVERITY else "normal"
        return band, proposal.severity

    @display(description="severity")
    def severity_display(self, proposal):
        if proposal.severity < settings.PROPOSALS_HIGHLIGHT_SEVERITY:
            return proposal.severity
        return format_html(
            '<span class="px-2 py-0.5 rounded-default bg-red-100 text-red-700 font-semibold">{}</span> '
            "(at or above {}: highlighted)",
            proposal.severity, settings.PROPOSALS_HIGHLIGHT_SEVERITY,
        )  # fmt: skip

    @display(description="proposal")
    def body_rendered(self, proposal):
        return format_html(
            '<div class="prose max-w-none dark:prose-invert">{}</div>', markdown_to_safe_html(proposal.body)
        )

    @display(description="risks")
    def risks_list(self, proposal):
        return format_html(
            '<ul style="list-style: disc; margin-left: 1.25rem">{}</ul>',
            format_html_join("", "<li>{}</li>", ((risk,) for risk in proposal.risks)),
        )

    @display(description="mitigations")
    def mitigations_list(self, proposal):
        return format_html(
            '<ul style="list-style: disc; margin-left: 1.25rem">{}</ul>',
            format_html_join("", "<li>{}</li>", ((item,) for item in proposal.mitigations)),
        )

    @display(description="raw report, as received")
    def raw_text_block(self, proposal):
        return format_html('<pre class="whitespace-pre-wrap text-xs">{}</pre>', proposal.raw_text)

    @display(description="execution tasks")
    def task_links(self, proposal):
        tasks = proposal.tasks.order_by("pk")
        if not tasks:
            return "-"
        return format_html_join(
            ", ", '<a class="text-primary-600" href="{}">#{} {}</a>',
            ((reverse("admin:execution_executiontask_change", args=[task.pk]), task.pk, task.status) for task in tasks),
        )  # fmt: skip

    def has_add_permission(self, request):
        return False  # reports come in through the upload, the API or `import_proposals`

    def has_change_permission(self, request, obj=None):
        return False  # decisions are actions, not edits

    def has_review_permission(self, request, obj=None):
        return request.user.has_perm(REVIEW_PERMISSION)

    def has_upload_permission(self, request, obj=None):
        return request.user.has_perm("proposals.add_proposal")

    def has_create_tasks_permission(self, request, obj=None):
        return request.user.has_perm("execution.add_executiontask")

    @action(description="Upload reports", icon="upload_file", url_path="upload", permissions=["upload"])
    def upload_reports(self, request):
        form = ProposalUploadForm(*_submitted(request, files=True))
        results = []
        if request.method == "POST" and form.is_valid():
            results = [self._ingest_file(file) for file in form.cleaned_data["files"]]
        return form_page(
            self, request, title="Upload FSAR reports", form=form, submit_label="Import",
            back_url=reverse("admin:proposals_proposal_changelist"), template="admin/proposals/proposal/upload.html",
            multipart=True, results=results,
        )  # fmt: skip

    @staticmethod
    def _ingest_file(file) -> dict:
        try:
            report_size_check(file.size)
            result = proposal_ingest(data=file.read(), source=f"upload: {file.name}")
        except FSARParseError as error:
            return {"name": file.name, "outcome": "failed", "detail": str(error)}
        url = reverse("admin:proposals_proposal_change", args=[result.proposal.pk])
        return {"name": file.name, "outcome": result.outcome, "detail": result.detail, "url": url,
                "report_id": result.proposal.report_id}  # fmt: skip

    @action(description="Acknowledge", icon="visibility", url_path="acknowledge", permissions=["review"])
    def acknowledge(self, request, object_id):
        return self._decision_page(request, object_id, "acknowledge")

    @action(description="Accept", icon="check_circle", url_path="accept", permissions=["review"])
    def accept(self, request, object_id):
        return self._decision_page(request, object_id, "accept")

    @action(description="Reject", icon="block", url_path="reject", permissions=["review"])
    def reject(self, request, object_id):
        return self._decision_page(request, object_id, "reject")

    def _decision_page(self, request, object_id, decision):
        proposal = get_object_or_404(Proposal, pk=object_id)
        label, decide, comment_required, done = DECISIONS[decision]
        form = ProposalDecisionForm(*_submitted(request), comment_required=comment_required)
        url = reverse("admin:proposals_proposal_change", args=[proposal.pk])
        if request.method == "POST" and form.is_valid():
            try:
                decide(proposal=proposal, reviewer=request.user, comment=form.cleaned_data["comment"])
            except (ValidationError, PermissionDenied) as refusal:
                self.message_user(request, f"{label} refused: {'; '.join(_messages(refusal))}", messages.ERROR)
            else:
                self.message_user(request, f"{proposal.report_id} {done}.")
            return HttpResponseRedirect(url)
        return self._form_page(request, f"{label} {proposal.report_id}?", proposal, form, label, url)

    @action(description="Create tasks", icon="add_task", url_path="create-tasks", permissions=["create_tasks"])
    def create_tasks(self, request, object_id):
        proposal = get_object_or_404(Proposal, pk=object_id)
        url = reverse("admin:proposals_proposal_change", args=[proposal.pk])
        if proposal.status != Proposal.Status.ACCEPTED:
            self.message_user(request, f"{proposal.report_id} is {proposal.status}: accept it first.", messages.ERROR)
            return HttpResponseRedirect(url)
        initial = {
            "task_type": TaskType.objects.filter(slug=proposal.category).first(),
            "prompts": f"Implement the accepted proposal {proposal.report_id}: {proposal.body.splitlines()[0][:300]}",
        }
        form = ProposalTasksForm(*_submitted(request), initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                ids = proposal_tasks_create(
                    proposal=proposal, task_type=form.cleaned_data["task_type"],
                    ai_model=form.cleaned_data["ai_model"], priority=form.cleaned_data["priority"],
                    prompts=form.cleaned_data["prompts"].splitlines(), actor=request.user,
                )  # fmt: skip
            except ValidationError as refusal:
                form.add_error(None, refusal)
            else:
                self.message_user(request, f"Created {len(ids)} task(s) for {proposal.report_id}.")
                return HttpResponseRedirect(url)
        return self._form_page(request, f"Create tasks for {proposal.report_id}", proposal, form, "Create tasks", url)

    @action(description="Mark implemented", icon="task_alt", url_path="implemented", permissions=["review"])
    def mark_implemented(self, request, object_id):
        proposal = get_object_or_404(Proposal, pk=object_id)
        url = reverse("admin:proposals_proposal_change", args=[proposal.pk])
        form = ProposalDecisionForm(*_submitted(request))
        del form.fields["comment"]
        if request.method == "POST":
            try:
                done = proposal_implemented(proposal=proposal, actor=request.user)
            except ValidationError as refusal:
                self.message_user(request, f"Not implemented yet: {'; '.join(_messages(refusal))}", messages.ERROR)
            else:
                self.message_user(request, f"{done.report_id} implemented; lead time {done.lead_time}.")
            return HttpResponseRedirect(url)
        return self._form_page(
            request, f"Mark {proposal.report_id} implemented?", proposal, form, "Mark implemented", url
        )

    def _form_page(self, request, title, proposal, form, submit_label, back_url):
        summary = (
            f"{proposal.report_id}: severity {proposal.severity}, {proposal.category or 'no category'}, "
            f"now {proposal.status}."
        )
        return form_page(self, request, title=title, summary=summary, form=form, submit_label=submit_label,
                         back_url=back_url)  # fmt: skip


def _submitted(request, *, files: bool = False) -> tuple:
    """Form data when the page was posted (even empty, so that a missing field is an error), else nothing."""
    if request.method != "POST":
        return ()
    return (request.POST, request.FILES) if files else (request.POST,)


def _messages(error) -> list[str]:
    return list(getattr(error, "messages", [str(error)]))
