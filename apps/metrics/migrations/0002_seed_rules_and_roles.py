"""Issue 18: one drift rule per metric (3 spreads from each pair's own baseline, sustained 2 hours), and who sees and
triages findings and alerts."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen here, as every migration is: apps/core/roles.py is today's table, and a test checks the two agree.
GRANTS = {
    "Operators": ["view_finding", "change_finding", "view_alert", "view_alertrule", "add_alertrule",
                  "change_alertrule", "view_leadtime"],
    "Offer builders": ["view_alert"],
    "Reviewers": ["view_finding", "change_finding", "view_alert", "view_alertrule", "view_leadtime"],
}  # fmt: skip
RULES = [  # (name, metric, minimum runs in an hour to judge it)
    ("Failure rate drift", "failure_rate", 10),
    ("p95 duration drift", "p95_duration", 10),
    ("Cost per run drift", "cost_per_run", 10),
    ("Margin per run drift", "margin_per_run", 10),
    ("Review rejection rate drift", "rejection_rate", 5),
    ("Concern rate drift", "concern_rate", 10),
]


def rules_seed(apps, schema_editor):
    AlertRule = apps.get_model("metrics", "AlertRule")
    for name, metric, min_runs in RULES:
        AlertRule.objects.get_or_create(name=name, defaults={"metric": metric, "kind": "drift", "deviations": 3,
                                                             "sustain_hours": 2, "min_runs": min_runs})


def rules_unseed(apps, schema_editor):
    apps.get_model("metrics", "AlertRule").objects.filter(name__in=[name for name, _, _ in RULES]).delete()


def grants_apply(apps, schema_editor, *, add=True):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    app_config = apps.get_app_config("metrics")
    app_config.models_module = True  # permissions are normally made after `migrate`; the groups need them now
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    for group_name, codenames in GRANTS.items():
        permissions = list(Permission.objects.filter(content_type__app_label="metrics", codename__in=codenames))
        if missing := set(codenames) - {permission.codename for permission in permissions}:
            raise RuntimeError(f"metrics: unknown permissions {sorted(missing)}")
        group = Group.objects.get(name=group_name)
        (group.permissions.add if add else group.permissions.remove)(*permissions)


def grants_revoke(apps, schema_editor):
    grants_apply(apps, schema_editor, add=False)


class Migration(migrations.Migration):
    dependencies = [("metrics", "0001_blind_spots_alerts_lead_times"), ("core", "0001_roles")]

    operations = [
        migrations.RunPython(rules_seed, rules_unseed),
        migrations.RunPython(grants_apply, grants_revoke),
    ]
