from django.apps import AppConfig

from .chain import AUDIT_FUNCTIONS, AUDIT_TRIGGERS


class AuditLogConfig(AppConfig):
    name = "apps.auditlog"
    verbose_name = "Audit log"
    schema_triggers = AUDIT_TRIGGERS  # checked by check_schema (apps.core.schema)
    schema_functions = AUDIT_FUNCTIONS

    def ready(self):
        from . import signals  # noqa: F401 - role and permission changes are audited wherever they are made
