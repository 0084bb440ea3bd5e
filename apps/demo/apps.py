from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for development and trying the console out: `manage.py seed_demo`. No models of its own; it
    sits on top of every app (import-linter) and nothing imports it."""

    name = "apps.demo"
    verbose_name = "Demo data"
