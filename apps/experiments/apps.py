from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    """A/B tests of offer prices and canary rollouts of AI models, judged with real statistics."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.experiments"
    verbose_name = "Experiments"
