from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {"Operators": ["pause_execution", "view_executioncontrol"], "Reviewers": ["view_executioncontrol"]}


def grants_add(apps, schema_editor):
    app_config = apps.get_app_config("execution")
    app_config.models_module = True  # a migration-state stub; create_permissions only checks it is set
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in GRANTS.items():
        permissions = Permission.objects.filter(content_type__app_label="execution", codename__in=codenames)
        assert permissions.count() == len(codenames), codenames
        Group.objects.get(name=group_name).permissions.add(*permissions)


def grants_remove(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in GRANTS.items():
        permissions = Permission.objects.filter(content_type__app_label="execution", codename__in=codenames)
        for group in Group.objects.filter(name=group_name):
            group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_roles"), ("execution", "0003_engine_control_and_cancel")]

    operations = [migrations.RunPython(grants_add, grants_remove)]
