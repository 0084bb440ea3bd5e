"""The safety app's own admin pages: one object's whole story, one person's activity across all objects, and a
reviewer's risk rating of a task type."""

from datetime import datetime, time, timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from unfold.widgets import UnfoldAdminDateWidget, UnfoldAdminSelectWidget

from apps.core.admin_site import form_page
from apps.execution.models import TaskType
from apps.execution.services.review import REVIEW_PERMISSION

from .forms import RateForm
from .history import STORY_MODELS, actor_activity, object_story, staff_users, story_model, version_changes
from .services import task_type_rate

SOURCES = {"version": "field changes", "event": "status changes", "audit": "audit log", "concern": "concerns"}


def _sources_for(user, app_label: str, model_name: str) -> set[str]:
    """What this person may read: versions with the model's history permission, events with the events
    permission, audit rows with the audit log's."""
    sources = {"concern"}
    if user.has_perm(f"{app_label}.view_historical{model_name}"):
        sources.add("version")
    if user.has_perm("execution.view_executionevent"):
        sources.add("event")
    if user.has_perm("auditlog.view_auditlog"):
        sources.add("audit")
    return sources


def story_page(model_admin, request, app_label: str, model_name: str, object_id: str):
    model = story_model(app_label, model_name)
    if model is None:
        raise Http404("no history page for this kind of object")
    if not request.user.has_perm(f"{app_label}.view_{model_name}"):
        raise PermissionDenied
    try:
        obj = get_object_or_404(model, pk=model._meta.pk.to_python(object_id))
    except ValidationError as error:  # "abc" for an integer id
        raise Http404("no such object") from error
    actor = staff_users().filter(username=request.GET.get("actor", "")).first()
    sources = _sources_for(request.user, app_label, model_name)
    entries = object_story(obj, actor_id=actor.pk if actor else None, sources=sources)
    versions = []
    if "version" in sources and hasattr(obj, "history"):
        versions = list(obj.history.order_by("-history_date", "-history_id")[:200])
    comparison = None
    by_id = {version.history_id: version for version in versions}
    older, newer = by_id.get(_int(request.GET.get("a"))), by_id.get(_int(request.GET.get("b")))
    if older and newer:
        if older.history_date > newer.history_date:
            older, newer = newer, older
        comparison = {"older": older, "newer": newer, "changes": version_changes(newer, older)}
    try:
        object_url = reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        object_url = ""
    context = {
        **model_admin.admin_site.each_context(request), "title": f"History of {model._meta.verbose_name} {obj}",
        "opts": model_admin.opts, "object": obj, "object_url": object_url, "entries": entries,
        "versions": versions, "comparison": comparison, "actor": actor, "actors": staff_users(),
        "sources": sorted(SOURCES[name] for name in sources),
        "versions_url": _versions_url(app_label, model_name, obj.pk),
    }  # fmt: skip
    return TemplateResponse(request, "admin/safety/story.html", context)


def _int(value) -> int | None:
    return int(value) if value and str(value).isdigit() else None


def _versions_url(app_label, model_name, pk) -> str:
    try:
        return reverse(f"admin:{app_label}_{model_name}_history", args=[pk])
    except NoReverseMatch:
        return ""


class ActivityForm(forms.Form):
    actor = forms.ModelChoiceField(staff_users(), to_field_name="username", widget=UnfoldAdminSelectWidget,
                                   empty_label="choose a person")  # fmt: skip
    since = forms.DateField(widget=UnfoldAdminDateWidget)
    until = forms.DateField(widget=UnfoldAdminDateWidget, help_text="Inclusive.")

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The period ends before it starts.")
        if data.get("since") and data.get("until") and (data["until"] - data["since"]).days > 366:
            raise forms.ValidationError("Look at a year at most at a time.")
        return data


def activity_page(model_admin, request):
    """"Everything Alice did last week": audit rows, task events and field changes by one person."""
    if not request.user.has_perm("auditlog.view_auditlog"):
        raise PermissionDenied
    today = timezone.localdate()
    data = request.GET if "actor" in request.GET else None
    form = ActivityForm(data, initial={"since": today - timedelta(days=7), "until": today})
    form.fields["actor"].queryset = staff_users()
    entries = None
    if form.is_bound and form.is_valid():
        zone = timezone.get_current_timezone()
        since = datetime.combine(form.cleaned_data["since"], time.min, tzinfo=zone)
        until = datetime.combine(form.cleaned_data["until"] + timedelta(days=1), time.min, tzinfo=zone)
        entries = actor_activity(actor_id=form.cleaned_data["actor"].pk, since=since, until=until)
    context = {
        **model_admin.admin_site.each_context(request), "title": "Activity by person", "opts": model_admin.opts,
        "form": form, "entries": entries, "story_models": STORY_MODELS,
    }  # fmt: skip
    return TemplateResponse(request, "admin/safety/activity.html", context)


def rate_task_type_page(model_admin, request, task_type_id: int):
    """A reviewer rates a task type's risk (its tasks stop scoring "unrated")."""
    if not request.user.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied
    task_type = get_object_or_404(TaskType, pk=task_type_id)
    back = reverse("admin:execution_tasktype_change", args=[task_type.pk])
    form = RateForm(request.POST or None, initial={"level": task_type.risk_level})
    if request.method == "POST" and form.is_valid():
        task_type_rate(task_type=task_type, level=form.cleaned_data["level"], reviewer=request.user,
                       note=form.cleaned_data["note"])  # fmt: skip
        messages.success(request, f"{task_type} rated {form.cleaned_data['level']}; waiting tasks are being "
                         "re-scored (see Risk re-scorings).")  # fmt: skip
        return HttpResponseRedirect(back)
    rated = (f"rated {task_type.risk_level} on {task_type.risk_rated_at:%Y-%m-%d}" if task_type.is_rated
             else "never rated: its tasks score high until you rate it")  # fmt: skip
    return form_page(model_admin, request, title=f"Rate the risk of task type {task_type}", form=form,
                     summary=f"{task_type.description} Now {rated}.", submit_label="Save rating", back_url=back)


# The story URL only matches the models that have a story, so `{% url %}` finds no "Story" link elsewhere.
STORY_PATH = (rf"^story/(?P<app_label>{'|'.join(sorted({app for app, _ in STORY_MODELS}))})/"
              rf"(?P<model_name>{'|'.join(sorted(model for _, model in STORY_MODELS))})/(?P<object_id>[^/]+)/$")
