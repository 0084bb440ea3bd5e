"""A private PostgreSQL server (the binaries from the pgserver wheel) that a test can stop and start again."""

import logging
import os
import signal
import time
from pathlib import Path

import pgserver
import psycopg

# pgserver logs every pg_ctl call, and once more from its atexit hook, after pytest has closed the streams the
# root logger writes to; a failing fault test shows the console's own log instead.
logging.getLogger("pgserver").propagate = False


class PostgresProcess:
    def __init__(self, directory: Path):
        self.directory = directory
        self.data_dir = directory / "pgdata"
        self.server = None

    def start(self) -> "PostgresProcess":
        self.directory.mkdir(parents=True, exist_ok=True)
        self.server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        return self

    @property
    def pid(self) -> int:
        return self.server.get_postmaster_info().pid

    def database_url(self, name: str) -> str:
        return f"postgres://postgres@/{name}?host={self.server.get_postmaster_info().socket_dir}"

    def database_create(self, name: str, *, template: str = "template1") -> str:
        with psycopg.connect(self.server.get_uri("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.database_url(name)

    def stop(self) -> None:
        """Fast shutdown by PID (SIGINT to the postmaster: sessions are cut, committed work is kept)."""
        pid = self.pid
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while _alive(pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres {pid} did not stop")
            time.sleep(0.1)

    def restart(self) -> None:
        """Start it again on the same data (pgserver keeps one handle per data directory)."""
        self.server.ensure_postgres_running()

    def cleanup(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
