from django.contrib.auth.management import create_permissions
from django.db import migrations

# The income permissions of each role, and the Stripe deliveries income is recorded from.
# Frozen here, as every migration is: apps/core/roles.py is today's table, and a test checks the two agree.
GRANTS = {
    "income": {
        "Operators": ["add_incomeevent", "view_incomeevent", "view_historicalincomeevent"],
        "Offer builders": ["add_incomeevent", "view_incomeevent", "view_historicalincomeevent"],
        "Reviewers": ["view_incomeevent", "view_historicalincomeevent"],
    },
    "djstripe": {
        "Operators": ["view_webhookeventtrigger"],
    },
}


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
    dependencies = [("core", "0001_roles"), ("income", "0003_webhook_headers_scrubbed"), ("djstripe", "__latest__")]

    operations = [migrations.RunPython(grants_apply, grants_revoke)]
