"""Granting model permissions to the role groups from migrations (each migration passes its frozen grants)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grants_operation(app_label: str, grants: dict[str, list[str]]) -> migrations.RunPython:
    """A reversible migration step adding `grants` ({group: [codename, ...]}) of `app_label`'s permissions."""

    def permissions_of(apps, codenames):
        Permission = apps.get_model("auth", "Permission")
        permissions = list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
        missing = set(codenames) - {permission.codename for permission in permissions}
        if missing:
            raise RuntimeError(f"{app_label}: unknown permissions {sorted(missing)}")
        return permissions

    def grants_add(apps, schema_editor):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True  # a migration-state stub; create_permissions only checks it is set
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
        Group = apps.get_model("auth", "Group")
        for group_name, codenames in grants.items():
            Group.objects.get(name=group_name).permissions.add(*permissions_of(apps, codenames))

    def grants_remove(apps, schema_editor):
        Group = apps.get_model("auth", "Group")
        for group_name, codenames in grants.items():
            for group in Group.objects.filter(name=group_name):
                group.permissions.remove(*permissions_of(apps, codenames))

    return migrations.RunPython(grants_add, grants_remove)
