from django.db import migrations

# Frozen copy of apps.income.webhooks.KEPT_HEADERS at the time of this migration.
KEPT_HEADERS = ("Stripe-Signature", "Content-Type", "User-Agent")


def headers_scrub(apps, schema_editor):
    """Stored deliveries kept every request header, Authorization and Cookie included; keep only these."""
    WebhookEventTrigger = apps.get_model("djstripe", "WebhookEventTrigger")
    for trigger in WebhookEventTrigger.objects.only("pk", "headers").iterator(chunk_size=500):
        headers = trigger.headers or {}
        kept = {name: value for name, value in headers.items() if name in KEPT_HEADERS}
        if kept != headers:
            WebhookEventTrigger.objects.filter(pk=trigger.pk).update(headers=kept)


class Migration(migrations.Migration):
    dependencies = [("income", "0002_rollup_triggers")]

    operations = [migrations.RunPython(headers_scrub, migrations.RunPython.noop)]
