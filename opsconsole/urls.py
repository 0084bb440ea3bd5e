from functools import wraps

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import include, path, re_path
from django_rq import stats_views
from django_rq.urls import get_admin_urlpatterns
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import DefaultRouter
from rq.exceptions import NoSuchJobError

from apps.core.api import AnonymousRateLimit
from apps.core.views import healthz
from apps.execution.admin import OPERATE_PERMISSION
from apps.execution.api import AIModelViewSet, TaskViewSet
from apps.experiments.api import AssignView
from apps.income.webhooks import stripe_webhook
from apps.metrics.prometheus import metrics_view
from apps.proposals.api import ProposalViewSet
from apps.safety.api import ConcernViewSet


def operators_only(view):
    """django-rq's dashboard can delete and requeue jobs: admin login, then operators (and superusers) only.
    A job that is gone (finished and expired, or a stale link) is a 404, not django-rq's 500."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not request.user.has_perm(OPERATE_PERMISSION):
            raise PermissionDenied("The queue dashboard is for operators.")
        try:
            return view(request, *args, **kwargs)
        except NoSuchJobError as error:
            raise Http404(str(error)) from error

    return admin.site.admin_view(guarded)


def rq_scheduler_not_used(request, *args, **kwargs):
    """django-rq links rq-scheduler's page, which fails without that package; periodic work is not there."""
    raise Http404("rq-scheduler is not used by this console.")


def queue_dashboard_urls() -> list:
    """Every django-rq page behind the operators' check, its JSON stats included (django-rq leaves those to
    any staff user); its own admin entry is off (RQ_SHOW_ADMIN_LINK)."""
    pages = [
        path(str(pattern.pattern), operators_only(rq_scheduler_not_used), name=pattern.name)
        if pattern.name == "scheduler_jobs"
        else pattern
        for pattern in get_admin_urlpatterns(view_wrapper=operators_only)
    ]
    return [
        re_path(r"^stats.json/?$", operators_only(stats_views.stats_json), name="home_json"),
        # django-rq's own Prometheus page, linked from its dashboard (prometheus-client is installed for /metrics)
        re_path(r"^metrics/?$", operators_only(stats_views.prometheus_metrics), name="metrics"),
        *pages,
    ]


api = DefaultRouter()
api.register("tasks", TaskViewSet, basename="task")
api.register("ai-models", AIModelViewSet, basename="ai-model")
api.register("proposals", ProposalViewSet, basename="proposal")
api.register("concerns", ConcernViewSet, basename="concern")

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("stripe/webhook/", stripe_webhook, name="stripe-webhook"),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[AnonymousRateLimit, IsAuthenticated]),
         name="api-schema"),  # fmt: skip
    path("api/experiments/<slug:key>/assign", AssignView.as_view(), name="experiment-assign"),
    path("api/", include(api.urls)),
    path("admin/rq/", include((queue_dashboard_urls(), "django_rq"))),
    path("admin/", admin.site.urls),
]
