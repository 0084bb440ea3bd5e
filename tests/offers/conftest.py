import pytest

from apps.execution.models import TaskType
from apps.offers.models import OfferTemplate
from tests.execution.conftest import run_workers  # noqa: F401 - the real burst-worker fixture


@pytest.fixture
def offer(ai_model):
    return OfferTemplate.objects.create(
        name="AI-Powered Code Review", slug="ai-powered-code-review", description="A careful review of one PR.",
        task_type=TaskType.objects.get(slug="implement_idea"), ai_model=ai_model, price="49.00", currency="usd",
    )  # fmt: skip
