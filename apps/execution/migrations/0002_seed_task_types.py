from django.db import migrations

# Frozen copy: later changes to task types ship as new migrations, not edits here.
TASK_TYPES = [
    {
        "slug": "implement_idea",
        "description": "Implement an idea described in the payload's prompt.",
        "risk_level": "medium",
        "requires_review": False,
    },
    {
        "slug": "idea_implementation",
        "description": "Carry out an accepted idea end to end.",
        "risk_level": "medium",
        "requires_review": False,
    },
    {
        "slug": "self_improvement",
        "description": "The AI system improves its own prompts, checks or processes.",
        "risk_level": "medium",
        "requires_review": False,
    },
    {
        "slug": "self_programming",
        "description": "The AI system changes its own code. Always reviewed before it runs.",
        "risk_level": "high",
        "requires_review": True,
    },
]


def task_types_seed(apps, schema_editor):
    TaskType = apps.get_model("execution", "TaskType")
    for fields in TASK_TYPES:
        TaskType.objects.get_or_create(slug=fields["slug"], defaults=fields)


def task_types_unseed(apps, schema_editor):
    TaskType = apps.get_model("execution", "TaskType")
    TaskType.objects.filter(slug__in=[fields["slug"] for fields in TASK_TYPES], tasks__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("execution", "0001_initial")]

    operations = [migrations.RunPython(task_types_seed, task_types_unseed)]
