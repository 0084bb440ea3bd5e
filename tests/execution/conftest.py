import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from django.db import connection

from tests.conftest import ROOT, TEST_REDIS_URL
from tests.fakes.chat_completions import ChatCompletionsServer


def test_database_url() -> str:
    """DATABASE_URL of pytest-django's test database, for worker processes."""
    return urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{connection.settings_dict['NAME']}").geturl()


def worker_env(**extra: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": TEST_REDIS_URL,
        "EXECUTION_RETRY_BACKOFF_SECONDS": "0",
        "AI_MODEL_KEY_ENV_ALLOWED": "TEST_QWEN_API_KEY",
        **extra,
    }


def worker_start(**extra: str) -> subprocess.Popen:
    """A real `manage.py rqworker --burst` process: it forks a work horse per job, like production."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "rqworker", "--burst", "default"],
        cwd=ROOT,
        env=worker_env(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@pytest.fixture
def run_workers():
    """Run `count` burst workers side by side until the queue is empty; fail loudly if one fails."""

    def run(count: int = 1, timeout: float = 120, **extra: str) -> list[str]:
        workers = [worker_start(**extra) for _ in range(count)]
        outputs = [worker.communicate(timeout=timeout)[0] for worker in workers]
        for worker, output in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, output
        return outputs

    return run


@pytest.fixture
def chat_server():
    server = ChatCompletionsServer().start()
    yield server
    server.stop()
