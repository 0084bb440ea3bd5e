from django.core.management.base import BaseCommand

from apps.metrics.drift import drift_evaluate
from apps.metrics.findings import detectors_run
from apps.metrics.leadtimes import lead_times_refresh


class Command(BaseCommand):
    help = "Run the blind-spot detectors, judge drift and refresh lead times now (the scheduler does it periodically)."

    def handle(self, *args, **options):
        found = detectors_run()
        self.stdout.write("blind spots: " + ", ".join(f"{name} {count}" for name, count in found.items()))
        self.stdout.write("alerts: " + ", ".join(f"{what} {count}" for what, count in drift_evaluate().items()))
        self.stdout.write(f"lead times: {lead_times_refresh()} rows")
