from django.db import migrations

from apps.core.role_grants import grants_operation

GRANTS = {"Operators": ["pause_execution", "view_executioncontrol"], "Reviewers": ["view_executioncontrol"]}


class Migration(migrations.Migration):
    dependencies = [("core", "0001_roles"), ("execution", "0003_engine_control_and_cancel")]

    operations = [grants_operation("execution", GRANTS)]
