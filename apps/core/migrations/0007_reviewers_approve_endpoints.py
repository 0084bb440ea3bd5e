from django.db import migrations

from apps.core.role_grants import grants_operation

GRANTS = {"Reviewers": ["approve_aimodel_endpoint"]}


class Migration(migrations.Migration):
    dependencies = [("core", "0006_income_roles"), ("execution", "0006_ai_model_endpoint_approval")]

    operations = [grants_operation("execution", GRANTS)]
