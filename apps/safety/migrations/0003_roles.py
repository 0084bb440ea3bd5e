"""Issue 17: who reports concerns, reads and edits risk rules and audits, reads the audit log."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen here, as every migration is: apps/core/roles.py is today's table, and a test checks the two agree.
EVERYONE = ["add_concern", "view_concern"]
GRANTS = {
    "safety": {
        "Operators": [*EVERYONE, "view_riskrule", "view_riskrescore", "view_safetyaudit", "view_auditrun"],
        "Offer builders": EVERYONE,
        "Reviewers": [*EVERYONE, "change_concern", "view_historicalconcern", "view_riskrule", "change_riskrule",
                      "view_historicalriskrule", "view_riskrescore", "add_riskrescore", "view_safetyaudit",
                      "add_safetyaudit", "change_safetyaudit", "view_historicalsafetyaudit", "view_auditrun",
                      "change_auditrun"],
    },
    "auditlog": {"Reviewers": ["view_auditlog"]},
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
    dependencies = [("safety", "0002_seed_rules_and_audits"), ("auditlog", "0001_initial"), ("core", "0001_roles")]

    operations = [migrations.RunPython(grants_apply, grants_revoke)]
