"""Issue 19: operators run model rollouts (create, step, hold, promote, roll back); reviewers read them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen here, as every migration is: apps/core/roles.py is today's table, and a test checks the two agree.
GRANTS = {
    "Operators": ["view_modelrollout", "add_modelrollout", "decide_modelrollout", "view_historicalmodelrollout"],
    "Reviewers": ["view_modelrollout", "view_historicalmodelrollout"],
}  # fmt: skip


def grants_apply(apps, schema_editor, *, add=True):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    app_config = apps.get_app_config("execution")
    app_config.models_module = True  # permissions are normally made after `migrate`; the groups need them now
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    for group_name, codenames in GRANTS.items():
        permissions = list(Permission.objects.filter(content_type__app_label="execution", codename__in=codenames))
        if missing := set(codenames) - {permission.codename for permission in permissions}:
            raise RuntimeError(f"execution: unknown permissions {sorted(missing)}")
        group = Group.objects.get(name=group_name)
        (group.permissions.add if add else group.permissions.remove)(*permissions)


def grants_revoke(apps, schema_editor):
    grants_apply(apps, schema_editor, add=False)


class Migration(migrations.Migration):
    dependencies = [("execution", "0013_rollout_index"), ("core", "0001_roles")]

    operations = [migrations.RunPython(grants_apply, grants_revoke)]
