from django.core.management.base import BaseCommand

from apps.income.rollups import rollups_rebuild


class Command(BaseCommand):
    help = "Recompute the ROI rollups from the tasks and the income ledger (after a bulk load or a restore)."

    def handle(self, *args, **options):
        rollups_rebuild()
        self.stdout.write("rollups rebuilt")
