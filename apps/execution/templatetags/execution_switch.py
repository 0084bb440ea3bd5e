"""The pause banner shown on every admin page while execution is paused."""

from django import template

from ..models import ExecutionControl

register = template.Library()


@register.inclusion_tag("admin/execution/pause_banner.html", takes_context=True)
def execution_pause_banner(context):
    request = context.get("request")
    if request is None or not getattr(request.user, "is_staff", False):
        return {"control": None}
    control = ExecutionControl.objects.filter(paused=True).select_related("changed_by").first()
    return {"control": control}
