from django.db import migrations

from apps.core.role_grants import grants_operation

GRANTS = {
    "Operators": ["add_incomeevent", "view_incomeevent", "view_historicalincomeevent"],
    "Offer builders": ["add_incomeevent", "view_incomeevent", "view_historicalincomeevent"],
    "Reviewers": ["view_incomeevent", "view_historicalincomeevent"],
}
DJSTRIPE_GRANTS = {"Operators": ["view_webhookeventtrigger"]}


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_offer_roles"),
        ("income", "0001_ledger_and_rollups"),
    ]

    operations = [grants_operation("income", GRANTS), grants_operation("djstripe", DJSTRIPE_GRANTS)]
