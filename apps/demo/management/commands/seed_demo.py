import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.demo.experiments import demo_experiments_ensure
from apps.demo.services import (
    demo_metrics_ensure,
    demo_models_ensure,
    demo_offers_ensure,
    demo_proposals_ensure,
    demo_review_backlog_ensure,
    demo_safety_ensure,
    demo_tasks_seed,
    demo_users_ensure,
    echo_model_ensure,
)

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Development only: fill the console with demo data (AI models, a user per role, offers, tasks over the "
        "last 90 days with events, costs and income, failures, reports with one blocking execution, a review "
        "backlog). Idempotent: a second run adds only what is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tasks", type=int, default=20_000, help="demo tasks to have in all (default 20000)")
        parser.add_argument("--basics", action="store_true",
                            help="only the echo AI model a first task runs on (what `make run` does)")  # fmt: skip

    def handle(self, *args, tasks, basics, **options):
        if not settings.DEBUG:
            raise CommandError("refusing to write demo data while DEBUG is off")
        if tasks < 0:
            raise CommandError("--tasks must be 0 or more")
        if basics:
            _, created = echo_model_ensure()
            if created:
                self.stdout.write("Created the `echo` AI model: a task on it succeeds with its payload as result.")
            return
        started = time.monotonic()
        self._say("AI models", demo_models_ensure(), "added")
        passwords = demo_users_ensure()
        for username, password in passwords.items():
            if password:
                self.stdout.write(self.style.SUCCESS(f"Created user `{username}` with password: {password}"))
        if not any(passwords.values()):
            self.stdout.write("Users: demo-operator, demo-builder, demo-reviewer exist (passwords as first printed)")
        self._say("Offers", demo_offers_ensure(), "added")
        report = demo_tasks_seed(count=tasks, progress=self._progress)
        if report.added:
            self.stdout.write(f"Tasks: {report.added:,} added ({report.events:,} events, "
                              f"{report.income_rows:,} income rows); {report.existing:,} were there")  # fmt: skip
        else:
            self.stdout.write(f"Tasks: skipped, {report.existing:,} demo tasks exist (asked for {tasks:,})")
        waiting = demo_review_backlog_ensure()
        self.stdout.write(f"Review backlog: {waiting} tasks added" if waiting else "Review backlog: skipped, full")
        safety = demo_safety_ensure()
        self.stdout.write("Safety: " + ", ".join(f"{count} {what}" for what, count in safety.items()) + " added")
        imported, known = demo_proposals_ensure()
        blocking = "; the newest blocks execution until a reviewer acknowledges it" if imported else ""
        self.stdout.write(f"Reports: {imported} imported, {known} skipped (already there){blocking}")
        metrics = demo_metrics_ensure()
        self.stdout.write("Metrics: " + ", ".join(f"{count} {what}" for what, count in metrics.items()) + " added; "
                          "blind spots, drift alerts and lead times computed")  # fmt: skip
        experiments = demo_experiments_ensure()
        self.stdout.write("Experiments: " + ", ".join(f"{count} {what}" for what, count in experiments.items())
                          + " added")
        self.stdout.write(self.style.SUCCESS(f"Demo data ready in {time.monotonic() - started:.1f} s."))

    def _say(self, what: str, added: list[str], verb: str) -> None:
        self.stdout.write(f"{what}: {verb} {', '.join(added)}" if added else f"{what}: skipped, all there")

    def _progress(self, step: str, done: int, total: int) -> None:
        filled = BAR_WIDTH * done // max(total, 1)
        line = f"{step:<6} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:,}/{total:,}"
        if sys.stdout.isatty():
            self.stdout.write(f"\r{line}", ending="\n" if done == total else "")
        else:
            self.stdout.write(line)
        self.stdout.flush()
