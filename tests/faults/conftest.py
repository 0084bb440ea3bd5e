import itertools

import pytest

from tests.execution.conftest import worker_env
from tests.fakes.postgres import PostgresProcess
from tests.faults.console import Console, manage_run

TEMPLATE = "opsconsole_migrated"
_databases = itertools.count()


@pytest.fixture(scope="package")
def postgres_server(tmp_path_factory):
    """The fault tests' own PostgreSQL (they stop it, or would disturb others' databases), with a database
    migrated once that each test copies."""
    directory = tmp_path_factory.mktemp("postgres")
    server = PostgresProcess(directory).start()
    try:
        url = server.database_create(TEMPLATE)
        manage_run(worker_env(DATABASE_URL=url), "migrate", "--no-input", log=directory / "migrate.log")
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def console_deploy(postgres_server, tmp_path):
    """`console_deploy(**settings)`: a console on a fresh copy of the migrated database and a private Valkey,
    its processes stopped when the test ends."""
    deployments: list[Console] = []

    def deploy(**settings: str) -> Console:
        url = postgres_server.database_create(f"opsconsole_{next(_databases)}", template=TEMPLATE)
        deployments.append(Console(url, tmp_path, **settings))
        return deployments[-1]

    yield deploy
    for deployment in deployments:
        deployment.stop()
