"""`pytest --template-db`: fast local re-runs. The test database is copied from a template that holds every
migration applied, named by a hash of the migration files and installed packages, so it is built once (about a
minute: dj-stripe's migrations are slow) and each run starts from a fresh copy in about a second, seed data
(groups, task types) included. `--reuse-db` cannot give that: the last transactional test's flush empties the
kept database's seed data. CI does not use this: it migrates from scratch every run."""

import hashlib
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--template-db", action="store_true", help="copy the test database from a migrated template")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, request):
    if not request.config.getoption("--template-db"):
        return
    from django.conf import settings

    settings.DATABASES["default"].setdefault("TEST", {})["TEMPLATE"] = migrated_template()


def migrated_template() -> str:
    fingerprint = hashlib.sha256()
    for path in sorted(ROOT.glob("apps/*/migrations/*.py")):
        fingerprint.update(path.read_bytes())
    for distribution in sorted(f"{d.name}=={d.version}" for d in metadata.distributions()):
        fingerprint.update(distribution.encode())
    name = f"opsconsole_template_{fingerprint.hexdigest()[:12]}"
    url = urlsplit(os.environ["DATABASE_URL"])
    admin_url = url._replace(scheme="postgresql", path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        # pytest-xdist's workers all ask at once: one builds the template while the others wait for it.
        admin.execute("SELECT pg_advisory_lock(hashtext(%s))", [name])
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return name
        admin.execute(f'CREATE DATABASE "{name}"')
        migrated = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "--no-input"], cwd=ROOT, capture_output=True,
            text=True, env={**os.environ, "DATABASE_URL": url._replace(path=f"/{name}").geturl()},
        )  # fmt: skip
        if migrated.returncode != 0:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            raise RuntimeError(f"migrating the template database failed:\n{migrated.stdout}\n{migrated.stderr}")
    return name
