from django.conf import settings
from django.template.response import TemplateResponse


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
