import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from apps.core.schema import schema_problems


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_every_app_of_ours_migrates_to_zero_and_back_up():
    """Our apps (apps.*) only: third-party migrations are their authors' to test, and dj-stripe's take minutes."""
    ours = sorted(
        app for app in MigrationLoader(connection).migrated_apps if apps.get_app_config(app).name.startswith("apps.")
    )
    our_tables = {model._meta.db_table for app in ours for model in apps.get_app_config(app).get_models()}
    # Dependents first, so every app's own backward operations run, including data migrations.
    for app_label in ["core", *[app for app in ours if app not in ("core", "execution")], "execution"]:
        call_command("migrate", app_label, "zero", verbosity=0)
    assert our_tables & set(connection.introspection.table_names()) == set()

    call_command("migrate", verbosity=0)
    assert schema_problems() == []
    from django.contrib.auth.models import Group

    from apps.execution.models import TaskType

    assert set(Group.objects.values_list("name", flat=True)) == {"Operators", "Offer builders", "Reviewers"}
    assert TaskType.objects.filter(slug="self_programming", requires_review=True, risk_level="high").exists()
