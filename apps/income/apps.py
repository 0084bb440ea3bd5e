from django.apps import AppConfig
from django.contrib import admin

from .rollups import ROLLUP_FUNCTIONS, ROLLUP_TRIGGERS


class IncomeConfig(AppConfig):
    name = "apps.income"
    verbose_name = "Income"
    schema_triggers = ROLLUP_TRIGGERS  # checked by check_schema (apps.core.schema)
    schema_functions = ROLLUP_FUNCTIONS

    def ready(self):
        # Webhooks are verified with STRIPE_WEBHOOK_SECRET from the environment at /stripe/webhook/ (webhooks.py);
        # dj-stripe's own endpoints (secret kept in the database, its own URL, not mounted) are not used, and their
        # admin add page fails without dj-stripe's URLs. dj-stripe's admin is registered by now (admin's ready()
        # runs first and imports every admin module).
        from djstripe.models import WebhookEndpoint  # models load only once apps are ready

        if admin.site.is_registered(WebhookEndpoint):
            admin.site.unregister(WebhookEndpoint)
