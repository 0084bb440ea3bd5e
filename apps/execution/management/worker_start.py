"""What every worker command does before it takes a job (`rqworker`, `rqworker-pool`)."""

from django.core.management.base import CommandError

from apps.core.schema import schema_problems

from ..executors import executors_preload


def worker_start_prepare(what: str) -> None:
    """Refuse to start against a database that is behind or drifted from the models (a task failing on a missing
    column is worse than a worker that never starts), then ready the executors before any fork."""
    if problems := schema_problems():
        raise CommandError(
            f"refusing to start the {what}: the database schema does not match the code\n"
            + "\n".join(problems)
            + "\nrun `python manage.py migrate`, then `python manage.py check_schema`",
            returncode=1,
        )
    executors_preload()
