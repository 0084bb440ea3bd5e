from django.core.management.base import CommandError
from django_rq.management.commands.rqworker import Command as DjangoRQWorkerCommand

from apps.core.schema import schema_problems


class Command(DjangoRQWorkerCommand):
    """django-rq's worker, refusing to start against a database that is behind or drifted from the models:
    a task that fails on a missing column is worse than a worker that never starts."""

    help = f"{DjangoRQWorkerCommand.help} Refuses to start unless `check_schema` passes."

    def handle(self, *args, **options):
        problems = schema_problems()
        if problems:
            raise CommandError(
                "refusing to start the worker: the database schema does not match the code\n"
                + "\n".join(problems)
                + "\nrun `python manage.py migrate`, then `python manage.py check_schema`",
                returncode=1,
            )
        from apps.execution.executors import executors_preload
        from apps.execution.services import sweeper_ensure_scheduled

        executors_preload()
        sweeper_ensure_scheduled()
        return super().handle(*args, **options)
