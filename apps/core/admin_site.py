from django.conf import settings
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.template.response import TemplateResponse
from django.utils.module_loading import import_string
from simple_history.admin import SimpleHistoryAdmin
from unfold.sites import UnfoldAdminSite


class OpsAdminSite(UnfoldAdminSite):
    """The admin in the order people work: the apps and models of `ADMIN_NAVIGATION` first and in its order
    (execution, proposals, offers, income, then Stripe with only the models people use), the rest after."""

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        if app_label is not None:
            return app_list  # one app's own page lists all its models
        navigation = settings.ADMIN_NAVIGATION
        labels = list(navigation)
        for app in app_list:
            wanted = navigation.get(app["app_label"])
            if wanted:
                models = {model["object_name"]: model for model in app["models"]}
                app["models"] = [models[name] for name in wanted if name in models]
            for model in app["models"]:
                badge = settings.ADMIN_BADGES.get(f"{app['app_label']}.{model['object_name']}")
                if badge:
                    model["badge"] = import_string(badge)(request)
            app["name"] = settings.ADMIN_APP_NAMES.get(app["app_label"], app["name"])
        app_list = [app for app in app_list if app["models"]]
        return sorted(app_list, key=lambda app: (labels.index(app["app_label"]) if app["app_label"] in labels
                                                 else len(labels), app["name"]))  # fmt: skip


class OpsAdminConfig(AdminConfig):
    default_site = "apps.core.admin_site.OpsAdminSite"


def environment_label(request):
    """Badge in the admin header so nobody mistakes a development console for production."""
    return ["Development", "warning"] if settings.DEBUG else ["Production", "danger"]


def form_page(model_admin, request, *, title, form, submit_label, back_url, summary="",
              template="admin/form_page.html", **extra):  # fmt: skip
    """A small admin page around one form (`templates/admin/form_page.html`): confirmations, uploads."""
    context = {
        **model_admin.admin_site.each_context(request), "title": title, "opts": model_admin.opts, "summary": summary,
        "page_form": form, "submit_label": submit_label, "back_url": back_url, **extra,
    }  # fmt: skip
    return TemplateResponse(request, template, context)


TEXT_SUFFIX = "__text"
HISTORY_FORM = "_opsconsole_history_form"  # set on a request for a past version's page


class LinksOnlyWhereAllowedMixin:
    """Django shows a read-only foreign key as a link to the related object's admin page, whoever looks: for a
    user who may not view that model (the user admin is for superusers; offer builders do not see tasks) the
    link is a 403. For them each such field is shown as plain text instead. An admin whose saved objects read
    differently from its add form sets `object_fieldsets`."""

    object_fieldsets = None

    def get_fieldsets(self, request, obj=None):
        if obj is not None and self.object_fieldsets:
            fieldsets = self.object_fieldsets
        else:
            fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        readonly = set(self.get_readonly_fields(request, obj))
        if self.has_change_permission(request, obj) or getattr(request, HISTORY_FORM, False):
            # Only read-only fields are shown as links; the others are form fields (a past version's page renders
            # its form whatever the permission, and refuses the POST).
            keep = lambda name: name in readonly or f"{name}{TEXT_SUFFIX}" in readonly  # noqa: E731
        else:
            keep = lambda name: True  # noqa: E731 - every field of a page one may not change is read-only
        return [(name, {**options, "fields": self._fields_for(request, options["fields"], only=keep)})
                for name, options in fieldsets]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return fields if obj is None else self._fields_for(request, fields)

    def _fields_for(self, request, fields, only=lambda name: True):
        return tuple(self._fields_for(request, field, only) if isinstance(field, (list, tuple))
                     else self._field_for(request, field) if only(field) else field for field in fields)  # fmt: skip

    def _field_for(self, request, name: str) -> str:
        try:
            field = self.model._meta.get_field(name)
        except FieldDoesNotExist:
            return name
        if not field.is_relation or field.many_to_many or field.related_model is None:
            return name
        related = field.related_model._meta
        allowed = self.admin_site.is_registered(field.related_model) and request.user.has_perm(
            f"{related.app_label}.view_{related.model_name}"
        )
        return name if allowed else f"{name}{TEXT_SUFFIX}"

    def __getattr__(self, name: str):
        if not name.endswith(TEXT_SUFFIX) or name.startswith("_"):
            raise AttributeError(name)
        field_name = name.removesuffix(TEXT_SUFFIX)

        def as_text(obj):
            value = getattr(obj, field_name, None)
            return "-" if value is None else str(value)

        as_text.short_description = self.model._meta.get_field(field_name).verbose_name
        return as_text


class ReadOnlyAdminMixin(LinksOnlyWhereAllowedMixin):
    """For rows written only by services (events, audit rows, runs): visible, never edited by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class HistoryAdmin(LinksOnlyWhereAllowedMixin, SimpleHistoryAdmin):
    """History for reading. django-simple-history's "Revert" posts a generic form of the old version, checked
    only against view permission and past every service (state machines, review gates, holds, Stripe versions):
    every model's revert is refused, whoever asks. A change goes through the object's own page and actions."""

    def history_view(self, request, object_id, extra_context=None):
        extra_context = dict(extra_context or {})
        if not request.user.has_perm("auth.view_user"):
            extra_context["admin_user_view"] = ""  # "Changed by" as text: its link would be a 403 to this user
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("History is read-only: change the object through its own page.")
        setattr(request, HISTORY_FORM, True)
        return super().history_form_view(request, object_id, version_id, extra_context)
