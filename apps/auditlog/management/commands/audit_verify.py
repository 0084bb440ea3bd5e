from django.core.management.base import BaseCommand, CommandError

from apps.auditlog.models import AuditLog
from apps.auditlog.services import audit_chain_break


class Command(BaseCommand):
    help = "Check the audit log's hash chain; name the first row that was changed or removed, and exit 1."

    def handle(self, *args, **options):
        broken = audit_chain_break()
        if broken is not None:
            raise CommandError(f"Audit chain broken: {broken}.", returncode=1)
        self.stdout.write(f"Audit chain intact: {AuditLog.objects.count()} rows.")
