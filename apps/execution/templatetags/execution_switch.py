"""The pause banner shown on every admin page while execution is paused."""

from django import template

from ..admin_views import holds_shown_to, scoped_holds_shown_to
from ..models import ExecutionControl

register = template.Library()


@register.inclusion_tag("admin/execution/pause_banner.html", takes_context=True)
def execution_pause_banner(context):
    request = context.get("request")
    if request is None or not getattr(request.user, "is_staff", False):
        return {"control": None, "scoped": []}
    control = ExecutionControl.objects.filter(paused=True).select_related("changed_by").first()
    return {
        "control": control,
        "scoped": scoped_holds_shown_to(request.user),
        "holds": holds_shown_to(request.user) if control is not None and control.pulled_by else [],
        "can_open_switch": request.user.has_perm("execution.view_executioncontrol"),
    }
