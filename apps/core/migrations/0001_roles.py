from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen copy of the role grants at this point; later apps add theirs in their own migrations.
ROLE_PERMISSIONS = {
    "Operators": {
        "execution": [
            "add_executiontask", "change_executiontask", "view_executiontask", "view_executionevent",
            "add_aimodel", "change_aimodel", "view_aimodel", "view_tasktype",
        ],
    },
    "Offer builders": {
        "execution": ["view_aimodel", "view_tasktype"],
    },
    "Reviewers": {
        "execution": [
            "view_executiontask", "review_executiontask", "view_executionevent", "view_aimodel", "view_tasktype",
            "view_historicalexecutiontask", "view_historicalaimodel", "view_historicaltasktype",
        ],
    },
}


def roles_create(apps, schema_editor):
    # Permissions are normally made after `migrate` finishes; make them now so the groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, grants in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for app_label, codenames in grants.items():
            permissions = list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
            missing = set(codenames) - {permission.codename for permission in permissions}
            if missing:
                raise RuntimeError(f"role {group_name}: unknown permissions {sorted(missing)}")
            group.permissions.add(*permissions)


def roles_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("execution", "0002_seed_task_types"),
    ]

    operations = [migrations.RunPython(roles_create, roles_delete)]
