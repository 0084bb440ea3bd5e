from django.db import migrations

from apps.core.role_grants import grants_operation

GRANTS = {
    "Operators": ["add_proposal", "view_proposal"],
    "Reviewers": ["view_proposal", "review_proposal", "view_historicalproposal"],
}


class Migration(migrations.Migration):
    dependencies = [("core", "0003_bulk_operations_and_switch_history"), ("proposals", "0001_initial")]

    operations = [grants_operation("proposals", GRANTS)]
