"""Issue 16: who reads reconciliation runs and stranded deliveries, who starts a run or retries a delivery."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen here, as every migration is: apps/core/roles.py is today's table, and a test checks the two agree.
GRANTS = {
    "income": {
        "Operators": ["view_reconciliationrun", "view_reconciliationdifference", "add_reconciliationrun",
                      "view_strandedwebhook", "change_strandedwebhook"],
        "Offer builders": ["view_reconciliationrun", "view_reconciliationdifference", "add_reconciliationrun"],
        "Reviewers": ["view_reconciliationrun", "view_reconciliationdifference"],
    },
}  # fmt: skip


def grants_apply(apps, schema_editor, *, add=True):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for app_label, roles in GRANTS.items():
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True  # permissions are normally made after `migrate`; the groups need them now
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
        for group_name, codenames in roles.items():
            permissions = list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
            if missing := set(codenames) - {permission.codename for permission in permissions}:
                raise RuntimeError(f"{app_label}: unknown permissions {sorted(missing)}")
            group = Group.objects.get(name=group_name)
            (group.permissions.add if add else group.permissions.remove)(*permissions)


def grants_revoke(apps, schema_editor):
    grants_apply(apps, schema_editor, add=False)


class Migration(migrations.Migration):
    dependencies = [("income", "0007_money_constraints_and_triggers")]

    operations = [migrations.RunPython(grants_apply, grants_revoke)]
