"""The history pages: one object's whole story, and one person's activity across all objects."""

from datetime import datetime, time, timedelta

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from unfold.widgets import UnfoldAdminDateWidget, UnfoldAdminSelectWidget

from .history import STORY_MODELS, actor_activity, object_story, staff_users, story_model, version_changes

SOURCES = {"version": "field changes", "event": "status changes", "audit": "audit log", "concern": "concerns"}


def _sources_for(user) -> set[str]:
    """What this person may read: events with the events permission, audit rows with the audit log's."""
    sources = {"version", "concern"}
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
    obj = get_object_or_404(model, pk=object_id)
    actor = staff_users().filter(username=request.GET.get("actor", "")).first()
    sources = _sources_for(request.user)
    entries = object_story(obj, actor_id=actor.pk if actor else None, sources=sources)
    versions = list(obj.history.order_by("-history_date", "-history_id")[:200]) if hasattr(obj, "history") else []
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
