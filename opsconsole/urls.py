from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from apps.core.views import healthz
from apps.execution.api import TaskViewSet

api = DefaultRouter()
api.register("tasks", TaskViewSet, basename="task")

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include(api.urls)),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]
