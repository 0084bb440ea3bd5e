"""Random input through the real endpoints: the task API and the report API answer every body with a 2xx or a 4xx,
never a 5xx, and write a whole task (or report) or nothing."""

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rest_framework.throttling import SimpleRateThrottle

from apps.execution.models import ExecutionEvent, ExecutionTask
from apps.proposals.models import Proposal
from tests.conftest import token_client
from tests.execution.factories import AIModelFactory
from tests.proposals.reports import SAMPLE
from tests.proposals.test_parser import MUTATIONS, mutate

pytestmark = pytest.mark.django_db
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
CHARACTERS = (
    st.characters(exclude_categories=())  # NUL and every other control character included
    | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)  # lone surrogates, as JSON's \ud800 escapes
)
TEXT = st.text(CHARACTERS, max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=12,
)
DEEP: list = []
for _ in range(40):
    DEEP = [DEEP]
BODIES = st.fixed_dictionaries({}, optional={
    "task_type": st.sampled_from(["implement_idea", "self_improvement"]) | JSON_VALUES,
    "ai_model": st.just("fuzz-model") | JSON_VALUES,
    "payload": st.dictionaries(TEXT, JSON_VALUES, max_size=4) | JSON_VALUES,
    "priority": st.integers(min_value=-200, max_value=200) | JSON_VALUES,
}) | JSON_VALUES  # fmt: skip


@pytest.fixture
def api(operator, monkeypatch):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES,
                                                               "user": "100000/minute"})  # fmt: skip
    AIModelFactory(name="fuzz-model")
    return token_client(operator)


@FUZZ
@given(body=BODIES)
@example(body={"task_type": "implement_idea", "ai_model": "fuzz-model", "payload": {"a": "\x00"}})
@example(body={"task_type": "implement_idea", "ai_model": "\ud800"})
@example(body={"payload": DEEP})
@example(body={"task_type": "implement_idea", "ai_model": "fuzz-model", "priority": 10**30})
def test_task_api_never_5xx_and_writes_a_whole_task_or_nothing(api, body):
    tasks_before, events_before = ExecutionTask.objects.count(), ExecutionEvent.objects.count()
    response = api.post("/api/tasks/", json.dumps(body).encode(), content_type="application/json")
    assert response.status_code in (201, 400), (response.status_code, response.content[:300])
    created = ExecutionTask.objects.count() - tasks_before
    assert created == (1 if response.status_code == 201 else 0)
    if not created:
        assert ExecutionEvent.objects.count() == events_before


@FUZZ
@given(query=st.dictionaries(st.sampled_from(["status", "ai_model", "task_type", "page", "other"]), TEXT))
def test_task_list_filters_never_5xx(api, query):
    response = api.get("/api/tasks/", {key: value.encode("utf-8", "surrogatepass") for key, value in query.items()})
    assert response.status_code in (200, 400, 404), (response.status_code, response.content[:300])


@FUZZ
@given(mutations=MUTATIONS)
def test_report_api_never_5xx_and_stores_a_whole_report_or_nothing(api, mutations):
    before = Proposal.objects.count()
    response = api.post("/api/proposals/", mutate(SAMPLE.encode(), mutations), content_type="text/plain")
    assert response.status_code in (200, 201, 400, 409, 413), (response.status_code, response.content[:300])
    assert Proposal.objects.count() - before == (1 if response.status_code == 201 else 0)
