"""The schema guard: `check_schema` and the worker refuse a database that is behind or drifted."""

import os
import uuid
from urllib.parse import urlsplit

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from apps.core.schema import schema_problems
from tests.conftest import manage_py

pytestmark = pytest.mark.django_db


def run_check_schema(capsys) -> tuple[int, str]:
    try:
        call_command("check_schema")
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().out


def test_check_schema_passes_on_a_migrated_database(capsys):
    assert run_check_schema(capsys) == (0, "schema OK\n")


def test_missing_ai_model_column_is_named_and_the_worker_refuses(capsys):
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE execution_tasks DROP COLUMN ai_model CASCADE"
        )  # and the rollup trigger reading it; rolled back
    code, output = run_check_schema(capsys)
    assert (code, output.splitlines()) == (1, [
        "execution_tasks.ai_model: column missing",  # its index and foreign key went with it: not said again
        "execution_tasks: trigger income_task_rollup_update missing (declared by income)",
    ])  # fmt: skip
    with pytest.raises(CommandError, match="execution_tasks.ai_model: column missing") as refused:
        call_command("rqworker", "--burst")
    assert refused.value.returncode == 1


def test_nullability_drift_and_missing_tables_are_reported():
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE execution_tasks ALTER COLUMN error DROP NOT NULL")
        cursor.execute("ALTER TABLE execution_events ADD COLUMN legacy_flag boolean NOT NULL")
        cursor.execute("ALTER TABLE execution_tasks ADD COLUMN harmless_note text")
        cursor.execute("DROP TABLE execution_historicaltasktype")
    assert schema_problems() == [
        "execution_historicaltasktype: table missing",
        "execution_tasks.error: nullable in the database, NOT NULL in the models",
        "execution_events.legacy_flag: NOT NULL column without default, not in the models",
    ]


def constraint_named(table: str, **shape) -> str:
    """The generated name of the constraint on `table` with this shape (e.g. columns=[...], foreign_key=...)."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return next(name for name, info in found.items() if all(info[key] == value for key, value in shape.items()))


DRIFTS = {  # one of each kind the guard must name, as a hand on the database would make it
    "dropped index": ("DROP INDEX exec_task_status_id_idx", "execution_tasks: index exec_task_status_id_idx missing"),
    "dropped partial unique constraint": (
        "DROP INDEX income_one_row_per_payment",
        "income_events: constraint income_one_row_per_payment missing",
    ),
    "dropped unique column constraint": (
        lambda: (
            "ALTER TABLE offers_offertemplate DROP CONSTRAINT "
            + constraint_named("offers_offertemplate", columns=["slug"], unique=True, index=False)
        ),
        "offers_offertemplate.slug: unique constraint missing",
    ),
    "dropped foreign key": (
        lambda: (
            "ALTER TABLE execution_tasks DROP CONSTRAINT "
            + constraint_named("execution_tasks", foreign_key=("execution_aimodel", "name"))
        ),
        "execution_tasks.ai_model: foreign key to execution_aimodel.name missing",
    ),
    "dropped check constraint": (
        "ALTER TABLE execution_tasks DROP CONSTRAINT exec_task_priority_range",
        "execution_tasks: constraint exec_task_priority_range missing",
    ),
    "shrunk varchar": (
        "ALTER TABLE execution_tasks ALTER COLUMN rq_job_id TYPE varchar(10)",
        "execution_tasks.rq_job_id: type character varying(10) in the database, character varying(64) in the models",
    ),
    "timestamp without time zone": (
        "ALTER TABLE proposals_proposal ALTER COLUMN reported_at TYPE timestamp without time zone",
        "proposals_proposal.reported_at: type timestamp without time zone in the database, "
        "timestamp with time zone in the models",
    ),
    "changed integer type": (
        "ALTER TABLE execution_tasks ALTER COLUMN priority TYPE integer",
        "execution_tasks.priority: type integer in the database, smallint in the models",
    ),
    "changed default": (
        "ALTER TABLE execution_tasks ALTER COLUMN attempts SET DEFAULT 5",
        "execution_tasks.attempts: default 5 in the database, none in the models",
    ),
    "dropped trigger": (
        "DROP TRIGGER income_rollup_change ON income_events",
        "income_events: trigger income_rollup_change missing (declared by income)",
    ),
    "dropped trigger function": (
        "DROP FUNCTION income_rollup_add(income_events, integer)",
        "function income_rollup_add() missing (declared by income)",
    ),
}


@pytest.mark.parametrize("kind", DRIFTS)
def test_each_kind_of_drift_is_named_on_its_own_line(kind):
    statement, line = DRIFTS[kind]
    with connection.cursor() as cursor:
        cursor.execute(statement() if callable(statement) else statement)  # rolled back with the test
    assert schema_problems() == [line]


@pytest.fixture
def scratch_database_url():
    """A copy of the migrated test database, for `manage.py` processes that must see committed DDL. Copied as a
    template rather than migrated afresh: dj-stripe's migrations alone take over a minute to replay."""
    name = f"opsconsole_scratch_{uuid.uuid4().hex[:8]}"
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    template = params["dbname"]
    params["dbname"] = "postgres"
    connections.close_all()  # a template must have no other sessions
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(**params, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_check_schema_and_worker_as_processes_on_a_database_behind_and_drifted(scratch_database_url):
    env = {"DATABASE_URL": scratch_database_url}
    # One migration back (going back far past dj-stripe's migrations takes Django over a minute to plan).
    assert manage_py("migrate", "offers", "zero", env=env).returncode == 0

    behind = manage_py("check_schema", env=env)
    assert behind.returncode == 1
    assert "migration not applied: offers.0001_initial" in behind.stdout
    assert "offers_offertemplate: table missing" in behind.stdout

    worker = manage_py("rqworker", "--burst", env=env)
    assert worker.returncode == 1
    assert "refusing to start the worker" in worker.stderr
    assert "migration not applied: offers.0001_initial" in worker.stderr

    assert manage_py("migrate", env=env).returncode == 0
    migrated = manage_py("check_schema", env=env)
    assert (migrated.returncode, migrated.stdout) == (0, "schema OK\n")

    with psycopg.connect(scratch_database_url.replace("postgres://", "postgresql://", 1), autocommit=True) as db:
        db.execute("ALTER TABLE execution_tasks DROP COLUMN ai_model CASCADE")
    drifted = manage_py("check_schema", env=env)
    assert drifted.returncode == 1 and drifted.stdout.startswith("execution_tasks.ai_model: column missing\n")
    refused = manage_py("rqworker", "--burst", env=env)
    assert refused.returncode == 1
    assert "execution_tasks.ai_model: column missing" in refused.stderr
