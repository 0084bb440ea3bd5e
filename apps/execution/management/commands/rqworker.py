import itertools
import os

from django_rq.management.commands.rqworker import Command as DjangoRQWorkerCommand
from django_rq.utils import reset_db_connections
from django_rq.workers import get_worker
from rq.logutils import setup_loghandlers

from apps.core.outages import BACKOFF_MAX_SECONDS, run_through_redis_outages

from ..worker_start import worker_start_prepare

LOG_LEVELS = {0: "WARNING", 1: "INFO"}


class Command(DjangoRQWorkerCommand):
    """django-rq's worker that refuses to start against a database that is behind or drifted from the models
    (a task failing on a missing column is worse than a worker that never starts) and that rides out a Redis
    outage: it waits for Redis and starts working again instead of exiting."""

    help = f"{DjangoRQWorkerCommand.help} Refuses to start unless `check_schema` passes; survives Redis outages."
    # Django's system checks (URLs, admin, templates) say nothing about running tasks and cost 0.25 s a start;
    # the check a worker needs is the schema guard in worker_start_prepare. `manage.py check` runs them in CI.
    requires_system_checks = []

    def handle(self, *args, **options):
        worker_start_prepare("worker")
        if options.get("pid"):
            with open(options["pid"], "w") as pid_file:
                pid_file.write(str(os.getpid()))
        level = LOG_LEVELS.get(options["verbosity"], "DEBUG")
        setup_loghandlers(level)

        starts = itertools.count()

        def work():
            name = options["name"]
            if name and (start := next(starts)):  # the last one's registration outlives the outage a while
                name = f"{name}.{start}"
            worker = get_worker(
                *args, worker_class=options["worker_class"], queue_class=options["queue_class"],
                job_class=options["job_class"], name=name, worker_ttl=options["worker_ttl"],
                serializer=options["serializer"],
            )  # fmt: skip
            worker.max_connection_wait_time = BACKOFF_MAX_SECONDS  # RQ's own retry grows to 60 s between tries
            reset_db_connections()  # no connection crosses a fork
            worker.work(
                burst=options["burst"], with_scheduler=options["with_scheduler"], logging_level=level,
                max_jobs=options["max_jobs"], max_idle_time=options["max_idle_time"],
            )  # fmt: skip

        run_through_redis_outages(work, what="worker")
