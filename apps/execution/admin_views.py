"""Admin pages of the execution app beyond the model admins: the JSON views behind the live task pages (the
task page and the task list poll them while tasks are pending, queued or running, and fetch the page again only
when something changed), and the queue page operators use instead of django-rq's dashboard."""

import copy

from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse, QueryDict
from django.template.response import TemplateResponse
from redis import RedisError

from .models import ExecutionEvent, ExecutionTask
from .services import LIVE_STATUSES, STATUS_COUNT_CAP, execution_holds, scoped_holds, task_status_counts
from .services.queues import failed_job_delete, failed_job_requeue, queues_overview

LIVE_IDS_MAX = 200  # a page of the task list holds 50


def holds_shown_to(user) -> list[dict]:
    """What keeps execution paused, each linked to the object holding it when this user may open that page."""
    return [
        {"reason": hold.reason, "link": bool(hold.admin_url_name) and user.has_perm(hold.view_permission),
         "url_name": hold.admin_url_name, "object_id": hold.object_id}
        for hold in execution_holds()
    ]  # fmt: skip


def scoped_holds_shown_to(user) -> list[dict]:
    """What stops one task type's or model's tasks from starting (a critical concern), linked where allowed."""
    return [
        {"reason": hold.reason,
         "scope": f"task type {hold.task_type}" if hold.task_type_id else f"AI model {hold.ai_model_id}",
         "link": bool(hold.admin_url_name) and user.has_perm(hold.view_permission), "url_name": hold.admin_url_name,
         "object_id": hold.object_id}
        for hold in scoped_holds()
    ]  # fmt: skip


def task_live(model_admin, request, object_id):
    """One task's status and how many events it has: the page reloads its parts when either moves."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    task = ExecutionTask.objects.filter(pk=object_id).values("status", "attempts").first()
    if task is None:
        raise Http404("no such task")
    return JsonResponse({
        "status": task["status"], "attempts": task["attempts"], "live": task["status"] in LIVE_STATUSES,
        "events": ExecutionEvent.objects.filter(task_id=object_id).count(),
    })  # fmt: skip


def tasks_live(model_admin, request):
    """The statuses of the tasks shown (`ids`) and the counts by status for the list's filters (`filters`, the
    list's own query string), each count capped."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        ids = [int(part) for part in request.GET.get("ids", "").split(",") if part][:LIVE_IDS_MAX]
    except ValueError:
        return JsonResponse({"error": "ids must be task ids separated by commas"}, status=400)
    statuses = dict(ExecutionTask.objects.filter(pk__in=ids).values_list("pk", "status"))
    list_request = copy.copy(request)  # the list, as its own query string selects it
    list_request.GET = QueryDict(request.GET.get("filters", ""))
    try:
        tasks = model_admin.get_changelist_instance(list_request).get_queryset(list_request)
    except IncorrectLookupParameters:
        return JsonResponse({"error": "filters are not the task list's"}, status=400)
    counts = task_status_counts(tasks)
    return JsonResponse({
        "statuses": {str(pk): status for pk, status in statuses.items()},
        "counts": counts, "cap": STATUS_COUNT_CAP,
        "live": any(status in LIVE_STATUSES for status in statuses.values())
        or any(counts[status] for status in LIVE_STATUSES),
    })  # fmt: skip


QUEUE_ACTIONS = {"requeue": (failed_job_requeue, "put back on its queue"), "delete": (failed_job_delete, "deleted")}


def queues_page(model_admin, request, *, can_act: bool):
    """Queue depths, workers, the cron scheduler and the latest failed jobs; operators can put a failed job
    (not a task's) back on its queue or delete it."""
    if request.method == "POST":
        if not can_act:
            raise PermissionDenied
        job_id, verb = request.POST.get("job_id", ""), request.POST.get("action", "")
        if verb not in QUEUE_ACTIONS or not job_id:
            messages.error(request, "Say which failed job and what to do with it (requeue or delete).")
        else:
            act, done = QUEUE_ACTIONS[verb]
            try:
                act(job_id)
            except (ValueError, RedisError) as refusal:
                messages.error(request, f"Job {job_id} was not {done}: {refusal}")
            else:
                messages.success(request, f"Job {job_id} {done}.")
        return HttpResponseRedirect(request.path)
    overview, problem = None, ""
    try:
        overview = queues_overview()
    except RedisError as error:
        problem = f"Redis does not answer ({type(error).__name__}: {error}); workers wait and reconnect by themselves."
    context = {
        **model_admin.admin_site.each_context(request), "title": "Queues and workers", "opts": model_admin.opts,
        "overview": overview, "problem": problem, "can_act": can_act,
    }  # fmt: skip
    return TemplateResponse(request, "admin/execution/queues.html", context)
