import logging

from django.conf import settings
from django.core.management.base import BaseCommand
from django_rq.cron import DjangoCronScheduler

from apps.core.outages import run_through_redis_outages


class Command(BaseCommand):
    """The one process that enqueues periodic work (the sweep, and later audits, detectors, rollups) with RQ's
    cron scheduler. The schedule is code (settings.CRON_CONFIG), so it survives a Redis flush; the process
    survives a Redis outage. Run exactly one, beside any number of workers."""

    help = "Run RQ's cron scheduler with the jobs in settings.CRON_CONFIG; survives Redis outages."

    def add_arguments(self, parser):
        parser.add_argument("--config", default=settings.CRON_CONFIG, help="module registering the cron jobs")

    def handle(self, *args, **options):
        def schedule():
            scheduler = DjangoCronScheduler(logging_level=logging.INFO)
            scheduler.load_config_from_file(options["config"])
            self.stdout.write(f"cron scheduler {scheduler.name}: {len(scheduler.get_jobs())} job(s)")
            scheduler.start()

        run_through_redis_outages(schedule, what="cron scheduler")
