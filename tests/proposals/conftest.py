from tests.execution.conftest import run_workers  # noqa: F401 - the real burst-worker fixture
