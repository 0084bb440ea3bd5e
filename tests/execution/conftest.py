import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from django.db import connection

from apps.execution.models import AIModel
from tests.conftest import ROOT, TEST_REDIS_URL
from tests.fakes.chat_completions import ChatCompletionsServer

from .factories import AIModelFactory, TaskTypeFactory


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


def worker_start(*args: str, burst: bool = True, **extra: str) -> subprocess.Popen:
    """A real `manage.py rqworker` process (TaskWorker unless `--worker-class` is in `args`): it forks a work
    horse per job, like production."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "rqworker", *(["--burst"] if burst else []), *args, "default"],
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


@pytest.fixture
def echo_type():
    return TaskTypeFactory(slug="echo_work", executor="echo", max_attempts=2, timeout_seconds=30)


@pytest.fixture
def chat_type():
    return TaskTypeFactory(slug="chat_work", executor="openai_compatible", max_attempts=2, timeout_seconds=3)


@pytest.fixture
def chat_model(chat_server):
    return AIModelFactory(
        name="qwen2.5-coder-32b",
        provider=AIModel.Provider.OPENAI_COMPATIBLE,
        base_url=chat_server.base_url,
        api_key_env="TEST_QWEN_API_KEY",
        input_price_per_million="2.00",
        output_price_per_million="6.00",
    )
