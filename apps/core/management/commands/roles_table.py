from django.core.management.base import BaseCommand

from apps.core.roles import roles_markdown_table


class Command(BaseCommand):
    help = "Print the role table (apps/core/roles.py) as Markdown, as README shows it."

    def handle(self, *args, **options):
        self.stdout.write(roles_markdown_table())
