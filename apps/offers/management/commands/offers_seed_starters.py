from django.core.management.base import BaseCommand, CommandError

from apps.execution.models import AIModel
from apps.offers.starters import offer_starters_create


class Command(BaseCommand):
    help = (
        "Create the starter offer templates (as drafts, priced in USD) on the AI model given; existing ones are "
        "left as they are."
    )

    def add_arguments(self, parser):
        parser.add_argument("--ai-model", required=True, help="name of an existing AI model, e.g. qwen2.5-coder-32b")

    def handle(self, *args, ai_model, **options):
        model = AIModel.objects.filter(name=ai_model).first()
        if model is None:
            known = ", ".join(AIModel.objects.values_list("name", flat=True)) or "none yet: add one in the admin"
            raise CommandError(f"no AI model named {ai_model!r} (known: {known})")
        for offer, created in offer_starters_create(ai_model=model):
            self.stdout.write(f"{'created' if created else 'exists '} {offer.slug}")
