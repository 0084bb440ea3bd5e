"""A console deployment of a fault test's own: a database on the tests' private PostgreSQL, a private Valkey, and
the `manage.py` processes started on them. The test reads the database with plain SQL (it shares nothing with
pytest-django's test database), and every process is stopped by PID at the end."""

import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.conftest import ROOT
from tests.execution.conftest import worker_env
from tests.fakes.valkey import ValkeyProcess
from tests.faults.processes import processes_stop


def manage(env: dict, *args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, stdout=log.open("a"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def manage_run(env: dict, *args: str, log: Path) -> None:
    """Run a `manage.py` command to its end; fail with its output if it fails."""
    assert manage(env, *args, log=log).wait(timeout=180) == 0, log.read_text()[-3000:]


class Console:
    def __init__(self, database_url: str, directory: Path, **settings: str):
        self.database_url = database_url
        self.log = directory / "console.log"
        (directory / "valkey").mkdir()
        self.redis_server = ValkeyProcess(directory / "valkey").start()
        self.env = worker_env(DATABASE_URL=database_url, REDIS_URL=self.redis_server.url, **settings)
        self.processes: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        """A long-running `manage.py` process (worker, scheduler), stopped with the console."""
        process = manage(self.env, *args, log=self.log)
        self.processes.append(process)
        return process

    def run(self, *args: str) -> None:
        manage_run(self.env, *args, log=self.log)

    def shell(self, code: str) -> subprocess.Popen:
        """Django code run in a process of its own, as an API call or an admin action would run it."""
        return manage(self.env, "shell", "-c", code, log=self.log)

    def query(self, sql: str, params=()) -> list[tuple]:
        with psycopg.connect(self.database_url.replace("postgres://", "postgresql://"), connect_timeout=2) as db:
            return db.execute(sql, params).fetchall()

    def statuses(self) -> dict[str, int]:
        try:
            return dict(self.query("SELECT status, count(*) FROM execution_tasks GROUP BY status"))
        except psycopg.OperationalError:
            return {"database": "away"}

    def alive(self) -> bool:
        return all(process.poll() is None for process in self.processes)

    def wait_until(self, condition, *, seconds: float, what: str) -> float:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"{what} not within {seconds:.0f} s; {self.statuses()}\n{self.log.read_text()[-4000:]}")
            time.sleep(0.2)
        return time.monotonic()

    def stop(self) -> None:
        processes_stop(self.processes)
        self.redis_server.stop()
