from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.execution.models import AIModel, TaskType
from apps.offers.models import OfferTemplate

STARTERS = [
    {
        "slug": "ai-powered-code-review",
        "name": "AI-Powered Code Review",
        "description": "A thorough review of one pull request: bugs, security issues and clear suggestions, "
        "delivered within a day.",
        "task_type": "implement_idea",
        "price": "49.00",
        "billing": OfferTemplate.Billing.ONE_TIME,
    },
    {
        "slug": "idea-to-prototype",
        "name": "Idea to Prototype",
        "description": "Your product idea turned into a working prototype with its code and a short write-up.",
        "task_type": "idea_implementation",
        "price": "490.00",
        "billing": OfferTemplate.Billing.ONE_TIME,
    },
    {
        "slug": "continuous-improvement",
        "name": "Continuous Improvement Retainer",
        "description": "Every month: your codebase profiled, its slowest stages improved, and a report of what "
        "changed.",
        "task_type": "self_improvement",
        "price": "1500.00",
        "billing": OfferTemplate.Billing.MONTHLY,
    },
]


class Command(BaseCommand):
    help = (
        "Create the starter offer templates (as drafts, priced in USD) on the AI model given; existing ones are "
        "left as they are."
    )

    def add_arguments(self, parser):
        parser.add_argument("--ai-model", required=True, help="name of an existing AI model, e.g. qwen2.5-coder-32b")

    @transaction.atomic
    def handle(self, *args, ai_model, **options):
        model = AIModel.objects.filter(name=ai_model).first()
        if model is None:
            known = ", ".join(AIModel.objects.values_list("name", flat=True)) or "none yet: add one in the admin"
            raise CommandError(f"no AI model named {ai_model!r} (known: {known})")
        for starter in STARTERS:
            fields = {**starter, "task_type": TaskType.objects.get(slug=starter["task_type"]), "ai_model": model}
            offer, created = OfferTemplate.objects.get_or_create(slug=starter["slug"], defaults=fields)
            self.stdout.write(f"{'created' if created else 'exists '} {offer.slug}")
