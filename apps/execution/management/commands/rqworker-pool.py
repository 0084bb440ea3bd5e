import importlib

from ..worker_start import worker_start_prepare

DjangoRQPoolCommand = importlib.import_module("django_rq.management.commands.rqworker-pool").Command


class Command(DjangoRQPoolCommand):
    """django-rq's worker pool (N worker processes under one parent that restarts any that dies), refusing to
    start against a database schema that is behind or drifted, like `rqworker`. The worker class defaults to
    settings.RQ["WORKER_CLASS"] (TaskWorker)."""

    help = "Runs N workers under one parent; refuses to start unless `check_schema` passes."
    # Django's system checks (URLs, admin, templates) say nothing about running tasks and cost 0.25 s a start;
    # the check a worker needs is the schema guard in worker_start_prepare. `manage.py check` runs them in CI.
    requires_system_checks = []

    def handle(self, *args, **options):
        worker_start_prepare("worker pool")
        super().handle(*args, **options)
