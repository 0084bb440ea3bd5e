"""What every API view shares."""

from rest_framework import permissions


class ModelPermissionsWithView(permissions.DjangoModelPermissions):
    """Reads need the view permission too (DRF's default lets any authenticated user read)."""

    perms_map = {**permissions.DjangoModelPermissions.perms_map, "GET": ["%(app_label)s.view_%(model_name)s"]}
