from functools import wraps

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.urls import include, path
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from apps.core.views import healthz
from apps.execution.api import TaskViewSet
from apps.income.webhooks import stripe_webhook
from apps.proposals.api import ProposalViewSet


def operators_only(view):
    """django-rq's dashboard can delete and requeue jobs: admin login, then operators (and superusers) only."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not request.user.has_perm("execution.change_executiontask"):
            raise PermissionDenied("The queue dashboard is for operators.")
        return view(request, *args, **kwargs)

    return admin.site.admin_view(guarded)


api = DefaultRouter()
api.register("tasks", TaskViewSet, basename="task")
api.register("proposals", ProposalViewSet, basename="proposal")

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("stripe/webhook/", stripe_webhook, name="stripe-webhook"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include(api.urls)),
    path(
        "admin/rq/", include((get_admin_urlpatterns(view_wrapper=operators_only) + get_api_urlpatterns(), "django_rq"))
    ),
    path("admin/", admin.site.urls),
]
