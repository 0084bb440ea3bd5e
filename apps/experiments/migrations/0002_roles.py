"""Issue 19: offer builders run price experiments (and their storefront token assigns subjects); operators and
reviewers read them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen here, as every migration is: apps/core/roles.py is today's table, and a test checks the two agree.
GRANTS = {
    "Operators": ["view_priceexperiment"],
    "Offer builders": ["view_priceexperiment", "add_priceexperiment", "change_priceexperiment",
                       "decide_priceexperiment", "assign_priceexperiment", "view_historicalpriceexperiment"],
    "Reviewers": ["view_priceexperiment", "view_historicalpriceexperiment"],
}  # fmt: skip


def grants_apply(apps, schema_editor, *, add=True):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    app_config = apps.get_app_config("experiments")
    app_config.models_module = True  # permissions are normally made after `migrate`; the groups need them now
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    for group_name, codenames in GRANTS.items():
        permissions = list(Permission.objects.filter(content_type__app_label="experiments", codename__in=codenames))
        if missing := set(codenames) - {permission.codename for permission in permissions}:
            raise RuntimeError(f"experiments: unknown permissions {sorted(missing)}")
        group = Group.objects.get(name=group_name)
        (group.permissions.add if add else group.permissions.remove)(*permissions)


def grants_revoke(apps, schema_editor):
    grants_apply(apps, schema_editor, add=False)


class Migration(migrations.Migration):
    dependencies = [("experiments", "0001_initial"), ("core", "0001_roles")]

    operations = [migrations.RunPython(grants_apply, grants_revoke)]
