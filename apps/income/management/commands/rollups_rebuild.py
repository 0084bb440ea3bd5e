from datetime import timedelta

from django.core.management.base import BaseCommand

from apps.income.models import RollupRebuild
from apps.income.rebuild import rollups_rebuild

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Recompute the hourly and daily rollups (tasks and income) from the raw rows, one UTC day per transaction. "
        "Safe to run again; --resume continues a run that stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--resume", action="store_true", help="Continue the last run that did not finish.")

    def handle(self, *args, resume=False, **options):
        self.terminal = self.stdout.isatty()
        run = rollups_rebuild(resume=resume, progress=self.show_progress)
        if run is None:
            self.stdout.write("nothing to roll up: no finished tasks, income or rollup rows")
            return
        self.stdout.write(f"rollups rebuilt: {run.days_total} days, {run.first_day} to {run.last_day}")

    def show_progress(self, run: RollupRebuild) -> None:
        """A bar redrawn in place on a terminal; in a log, a line every tenth of the way."""
        done, total = run.days_done, run.days_total
        finished = run.finished_at is not None
        if not self.terminal and not finished and done % max(1, total // 10):
            return
        filled = BAR_WIDTH * done // total
        day = run.next_day - timedelta(days=1)
        self.stdout.write(
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} days, up to {day}",
            ending="\r" if self.terminal and not finished else "\n",
        )
