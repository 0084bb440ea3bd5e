"""Compare the live database with the models, so nothing runs against a schema that is behind or drifted."""

from django.apps import apps
from django.db import connections, router
from django.db.migrations.executor import MigrationExecutor


def migrations_unapplied(*, using: str = "default") -> list[str]:
    executor = MigrationExecutor(connections[using])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def _nullability(null: bool) -> str:
    return "nullable" if null else "NOT NULL"


def schema_drift(*, using: str = "default") -> list[str]:
    """One line per difference between managed models and the live tables: missing tables or columns,
    nullability that differs, and unknown NOT NULL columns without a default (they make inserts fail).
    Unknown nullable columns are tolerated: an expand-then-contract migration adds them ahead of the code."""
    connection = connections[using]
    introspection = connection.introspection
    problems = []
    with connection.cursor() as cursor:
        tables = set(introspection.table_names(cursor))
        for model in apps.get_models(include_auto_created=True):
            meta = model._meta
            if not meta.managed or meta.proxy or not router.allow_migrate_model(using, model):
                continue
            if meta.db_table not in tables:
                problems.append(f"{meta.db_table}: table missing")
                continue
            columns = {info.name: info for info in introspection.get_table_description(cursor, meta.db_table)}
            expected = set()
            for field in meta.local_fields:
                if field.column is None:
                    continue
                expected.add(field.column)
                found = columns.get(field.column)
                if found is None:
                    problems.append(f"{meta.db_table}.{field.column}: column missing")
                elif bool(found.null_ok) != field.null:
                    problems.append(
                        f"{meta.db_table}.{field.column}: {_nullability(found.null_ok)} in the database, "
                        f"{_nullability(field.null)} in the models"
                    )
            for name in sorted(columns.keys() - expected):
                if not columns[name].null_ok and columns[name].default is None:
                    problems.append(f"{meta.db_table}.{name}: NOT NULL column without default, not in the models")
    return problems


def schema_problems(*, using: str = "default") -> list[str]:
    """Everything that makes this database unfit for this code, as printable lines (empty: schema OK)."""
    problems = [f"migration not applied: {name}" for name in migrations_unapplied(using=using)]
    return problems + schema_drift(using=using)
