import sys

from django.core.management.base import BaseCommand

from apps.core.schema import schema_problems


class Command(BaseCommand):
    help = "Compare the live database with the models and migrations; exit 1 and list every drift."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default")

    def handle(self, *args, database, **options):
        problems = schema_problems(using=database)
        for line in problems:
            self.stdout.write(line)
        if problems:
            sys.exit(1)
        self.stdout.write("schema OK")
