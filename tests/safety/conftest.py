from tests.execution.conftest import echo_type, run_workers  # noqa: F401 - the real burst-worker fixtures
from tests.offers.conftest import offer  # noqa: F401
