"""The starter offers: three drafts priced in USD that a new install (or the demo data) begins with."""

from django.db import transaction

from apps.execution.models import AIModel, TaskType

from .models import OfferTemplate

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


@transaction.atomic
def offer_starters_create(*, ai_model: AIModel) -> list[tuple[OfferTemplate, bool]]:
    """Create the starters that do not exist yet (by slug) on `ai_model`; existing ones are left as they are."""
    offers = []
    for starter in STARTERS:
        fields = {**starter, "task_type": TaskType.objects.get(slug=starter["task_type"]), "ai_model": ai_model}
        offers.append(OfferTemplate.objects.get_or_create(slug=starter["slug"], defaults=fields))
    return offers
