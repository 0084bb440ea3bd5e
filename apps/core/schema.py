"""Compare the live database with the models, so nothing runs against a schema that is behind or drifted.

Everything the migrations define is compared: tables, columns with their types, defaults and nullability,
indexes, unique and check constraints, foreign keys, and the triggers and functions that apps declare (an
AppConfig's `schema_triggers`: (table, trigger, function) triples, and `schema_functions`: function names). Each
difference is one line, so an operator sees every kind of drift at once.
"""

import re

from django.apps import apps
from django.db import connections, router
from django.db.migrations.executor import MigrationExecutor
from django.db.models import NOT_PROVIDED

_COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
"""
_TRIGGERS_SQL = """
SELECT c.relname, t.tgname, p.proname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal
"""
_FUNCTIONS_SQL = "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
# Django's names for column types, as PostgreSQL's format_type() spells them.
_TYPE_SPELLINGS = [
    (re.compile(r"^varchar\((\d+)\)"), r"character varying(\1)"),
    (re.compile(r"^char\((\d+)\)"), r"character(\1)"),
    (re.compile(r"^numeric\((\d+), (\d+)\)"), r"numeric(\1,\2)"),
    (re.compile(r"^time$"), "time without time zone"),
    (re.compile(r"^timestamp$"), "timestamp without time zone"),
]


def migrations_unapplied(*, using: str = "default") -> list[str]:
    executor = MigrationExecutor(connections[using])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def _nullability(null: bool) -> str:
    return "nullable" if null else "NOT NULL"


def _type_spelled(db_type: str) -> str:
    for pattern, spelling in _TYPE_SPELLINGS:
        db_type = pattern.sub(spelling, db_type)
    return db_type


def _column_problems(table, field, found, connection) -> list[str]:
    """Nullability, type and default of one column."""
    name = f"{table}.{field.column}"
    problems = []
    if bool(found["null"]) != field.null:
        problems.append(
            f"{name}: {_nullability(found['null'])} in the database, {_nullability(field.null)} in the models"
        )
    # The id of an auto-created many-to-many table is an AutoField at run time, whatever its migration made it.
    expected_type = None if field.primary_key and field.model._meta.auto_created else field.db_type(connection)
    expected_type = expected_type and _type_spelled(expected_type)
    if expected_type and expected_type != found["type"]:
        problems.append(f"{name}: type {found['type']} in the database, {expected_type} in the models")
    default = found["default"]
    if default is not None and field.db_default is NOT_PROVIDED and not default.startswith("nextval("):
        problems.append(f"{name}: default {default} in the database, none in the models")
    return problems


def _expected_constraints(model) -> list[tuple[set[str], str, callable]]:
    """(the columns it needs, what is missing when no live constraint matches, a matcher over one introspected
    constraint) for every index and constraint the models define."""
    meta = model._meta
    expected = []
    for field in meta.local_fields:
        column = field.column
        if field.primary_key or column is None:
            continue
        target = field.remote_field.model._meta if field.remote_field and field.db_constraint else None
        if target is not None:
            to_column = field.target_field.column
            expected.append(
                (
                    {column},
                    f"{meta.db_table}.{column}: foreign key to {target.db_table}.{to_column} missing",
                    lambda c, column=column, to=(target.db_table, to_column): (
                        c["foreign_key"] == to and c["columns"] == [column]
                    ),
                )
            )
        if field.unique:
            expected.append(
                (
                    {column},
                    f"{meta.db_table}.{column}: unique constraint missing",
                    lambda c, column=column: c["unique"] and c["columns"] == [column],
                )
            )
        elif field.db_index:
            expected.append(
                (
                    {column},
                    f"{meta.db_table}.{column}: index missing",
                    lambda c, column=column: c["columns"] == [column] and (c["index"] or c["unique"]),
                )
            )
    for columns in meta.unique_together:
        wanted = [meta.get_field(name).column for name in columns]
        expected.append(
            (
                set(wanted),
                f"{meta.db_table}: unique ({', '.join(wanted)}) missing",
                lambda c, wanted=wanted: c["unique"] and c["columns"] == wanted,
            )
        )
    for named in [*meta.indexes, *meta.constraints]:
        kind = "index" if named in meta.indexes else "constraint"
        needs = {meta.get_field(name.lstrip("-")).column for name in getattr(named, "fields", ()) or ()}
        expected.append(
            (needs, f"{meta.db_table}: {kind} {named.name} missing", lambda c, name=named.name: c["name"] == name)
        )
    return expected


def _table_problems(cursor, model, connection) -> list[str]:
    meta = model._meta
    cursor.execute(_COLUMNS_SQL, [connection.ops.quote_name(meta.db_table)])
    columns = {name: {"type": type_, "null": null, "default": default} for name, type_, null, default in cursor}
    problems, missing_columns = [], set()
    for field in meta.local_fields:
        if field.column is None:
            continue
        found = columns.get(field.column)
        if found is None:
            problems.append(f"{meta.db_table}.{field.column}: column missing")
            missing_columns.add(field.column)
        else:
            problems += _column_problems(meta.db_table, field, found, connection)
    expected_columns = {field.column for field in meta.local_fields if field.column}
    for name in sorted(columns.keys() - expected_columns):
        if not columns[name]["null"] and columns[name]["default"] is None:
            problems.append(f"{meta.db_table}.{name}: NOT NULL column without default, not in the models")
    constraints = [
        {**info, "name": name} for name, info in connection.introspection.get_constraints(cursor, meta.db_table).items()
    ]
    for needs, missing, matches in _expected_constraints(model):
        if needs & missing_columns:
            continue  # said already: the column is missing
        if not any(matches(constraint) for constraint in constraints):
            problems.append(missing)
    return problems


def _trigger_problems(cursor) -> list[str]:
    cursor.execute(_TRIGGERS_SQL)
    triggers = {(table, trigger): function for table, trigger, function in cursor.fetchall()}
    cursor.execute(_FUNCTIONS_SQL)
    functions = {name for (name,) in cursor.fetchall()}
    problems = []
    for config in apps.get_app_configs():
        for table, trigger, function in getattr(config, "schema_triggers", ()):
            if (table, trigger) not in triggers:
                problems.append(f"{table}: trigger {trigger} missing (declared by {config.label})")
            elif triggers[(table, trigger)] != function:
                problems.append(f"{table}: trigger {trigger} runs {triggers[(table, trigger)]}(), not {function}()")
        wanted = {function for _, _, function in getattr(config, "schema_triggers", ())}
        for function in sorted(wanted | set(getattr(config, "schema_functions", ()))):
            if function not in functions:
                problems.append(f"function {function}() missing (declared by {config.label})")
    return problems


def schema_drift(*, using: str = "default") -> list[str]:
    """One line per difference between managed models (and declared triggers) and the live database. Unknown
    nullable columns are tolerated: an expand-then-contract migration adds them ahead of the code."""
    connection = connections[using]
    problems = []
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        for model in apps.get_models(include_auto_created=True):
            meta = model._meta
            if not meta.managed or meta.proxy or not router.allow_migrate_model(using, model):
                continue
            if meta.db_table not in tables:
                problems.append(f"{meta.db_table}: table missing")
                continue
            problems += _table_problems(cursor, model, connection)
        problems += _trigger_problems(cursor)
    return problems


def schema_problems(*, using: str = "default") -> list[str]:
    """Everything that makes this database unfit for this code, as printable lines (empty: schema OK)."""
    problems = [f"migration not applied: {name}" for name in migrations_unapplied(using=using)]
    return problems + schema_drift(using=using)
