from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "apps.metrics"
    verbose_name = "Metrics and alerts"
    default_auto_field = "django.db.models.BigAutoField"
