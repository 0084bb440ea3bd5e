from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin


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


class HistoryAdmin(SimpleHistoryAdmin):
    """History for reading. django-simple-history's "Revert" posts a generic form of the old version, checked
    only against view permission and past every service (state machines, review gates, holds, Stripe versions):
    every model's revert is refused, whoever asks. A change goes through the object's own page and actions."""

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("History is read-only: change the object through its own page.")
        return super().history_form_view(request, object_id, version_id, extra_context)
