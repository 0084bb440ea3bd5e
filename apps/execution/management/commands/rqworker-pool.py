import importlib

from django.core.management.base import CommandError

from apps.core.schema import schema_problems

from ...executors import executors_preload

DjangoRQPoolCommand = importlib.import_module("django_rq.management.commands.rqworker-pool").Command


class Command(DjangoRQPoolCommand):
    """django-rq's worker pool (N worker processes under one parent that restarts any that dies), refusing to
    start against a database schema that is behind or drifted, like `rqworker`. The worker class defaults to
    settings.RQ["WORKER_CLASS"] (TaskWorker)."""

    help = "Runs N workers under one parent; refuses to start unless `check_schema` passes."

    def handle(self, *args, **options):
        if problems := schema_problems():
            raise CommandError(
                "refusing to start the worker pool: the database schema does not match the code\n"
                + "\n".join(problems)
                + "\nrun `python manage.py migrate`, then `python manage.py check_schema`",
                returncode=1,
            )
        executors_preload()
        super().handle(*args, **options)
