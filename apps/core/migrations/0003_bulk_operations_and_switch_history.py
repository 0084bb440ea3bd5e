from django.db import migrations

from apps.core.role_grants import grants_operation

GRANTS = {
    "Operators": ["view_bulkoperation", "view_historicalexecutioncontrol", "view_historicalexecutiontask"],
    "Reviewers": ["view_bulkoperation", "view_historicalexecutioncontrol"],
}


class Migration(migrations.Migration):
    dependencies = [("core", "0002_operators_pause_execution"), ("execution", "0004_bulk_operations")]

    operations = [grants_operation("execution", GRANTS)]
