from django.core.management.base import BaseCommand

from apps.income.services import income_replay_unprocessed


class Command(BaseCommand):
    help = "Queue again the verified Stripe webhooks not yet recorded (after a queue outage). Safe to repeat."

    def handle(self, *args, **options):
        self.stdout.write(f"queued {income_replay_unprocessed()} webhook(s)")
