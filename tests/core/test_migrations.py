import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from apps.core.schema import schema_problems


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_every_app_migrates_to_zero_and_back_up():
    apps_with_migrations = sorted(MigrationLoader(connection).migrated_apps)
    # Dependents first, so every app's own backward operations run, including data migrations.
    for app_label in ["core", "execution", *[a for a in apps_with_migrations if a not in ("core", "execution")]]:
        call_command("migrate", app_label, "zero", verbosity=0)
    remaining = set(connection.introspection.table_names()) - {"django_migrations"}
    assert remaining == set()

    call_command("migrate", verbosity=0)
    assert schema_problems() == []
    from django.contrib.auth.models import Group

    from apps.execution.models import TaskType

    assert set(Group.objects.values_list("name", flat=True)) == {"Operators", "Offer builders", "Reviewers"}
    assert TaskType.objects.filter(slug="self_programming", requires_review=True, risk_level="high").exists()
