"""The rollup triggers in the database are the ones apps/income/rollups.py declares: migration 0002 holds a frozen
copy of the SQL, so a change to rollups.py without a new migration fails here instead of going live unnoticed."""

import re

import pytest
from django.db import connection

from apps.income.rollups import ROLLUP_FUNCTIONS, ROLLUP_TRIGGERS, TRIGGERS_SQL
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db


def declared_function_bodies() -> dict[str, str]:
    return dict(re.findall(r"CREATE (?:OR REPLACE )?FUNCTION (\w+)\(.*?\$\$(.*?)\$\$", TRIGGERS_SQL, re.S))


def test_the_database_runs_the_function_bodies_rollups_py_declares():
    declared = declared_function_bodies()
    aggregates = set(re.findall(r"CREATE (?:OR REPLACE )?AGGREGATE (\w+)\(", TRIGGERS_SQL))
    assert aggregates == {"rollup_hist_sum"}
    assert set(declared) | aggregates == set(ROLLUP_FUNCTIONS) | {function for _, _, function in ROLLUP_TRIGGERS}
    with connection.cursor() as cursor:
        cursor.execute("SELECT proname, prosrc FROM pg_proc WHERE proname = ANY(%s)", [list(declared)])
        assert dict(cursor.fetchall()) == declared


def test_the_database_has_the_triggers_rollups_py_declares_on_their_tables():
    statement = r"CREATE (?:OR REPLACE )?TRIGGER (\w+)\s.*?\sON (\w+)\s.*?EXECUTE FUNCTION (\w+)\("
    declared = set(re.findall(statement, TRIGGERS_SQL, re.S))
    assert declared == {(trigger, table, function) for table, trigger, function in ROLLUP_TRIGGERS}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.tgname, c.relname, p.proname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal AND t.tgname LIKE 'income_%%'"
        )
        assert set(cursor.fetchall()) == declared


def test_no_income_migration_imports_application_code():
    for migration in (ROOT / "apps" / "income" / "migrations").glob("0*.py"):
        assert not re.search(r"^\s*(from|import) apps\b", migration.read_text(), re.M), migration.name
