import base64

import pytest
from rest_framework.test import APIClient

from apps.core.api import NewestFirstPagination
from apps.execution.models import ExecutionEvent, ExecutionTask
from apps.execution.services import task_create
from tests.conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(operator):
    return token_client(operator)


def test_creating_a_task_without_ai_model_is_400_naming_the_field_and_writes_nothing(api):
    response = api.post("/api/tasks/", {"task_type": "implement_idea", "payload": {"prompt": "x"}}, format="json")
    assert response.status_code == 400
    assert response.json() == {"ai_model": ["ai_model is required: name an active AI model."]}
    assert not ExecutionTask.objects.exists() and not ExecutionEvent.objects.exists()


def test_every_bad_field_comes_back_at_once(api):
    response = api.post("/api/tasks/", {"task_type": "nope", "ai_model": "ghost", "payload": [1]}, format="json")
    assert response.status_code == 400
    assert sorted(response.json()) == ["ai_model", "payload", "task_type"]
    assert not ExecutionTask.objects.exists()


@pytest.mark.parametrize("body", ["not json", "[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_400(api, body):
    response = api.post("/api/tasks/", body, content_type="application/json")
    assert response.status_code == 400
    assert not ExecutionTask.objects.exists()


def test_task_is_created_through_the_service_and_read_back_with_events(api, operator, ai_model, redis_test_db):
    body = {"task_type": "implement_idea", "ai_model": ai_model.name, "payload": {"prompt": "x"}, "priority": 3}
    created = api.post("/api/tasks/", body, format="json")
    assert created.status_code == 201, created.json()
    task = ExecutionTask.objects.get()
    assert (task.created_by, task.priority, created.json()["status"]) == (operator, 3, "queued")

    detail = api.get(f"/api/tasks/{task.pk}/").json()
    assert detail["ai_model"] == ai_model.name and detail["task_type"] == "implement_idea"
    assert [event["kind"] for event in detail["events"]] == ["created", "queued"]
    assert {"result", "error", "started_at", "finished_at", "duration_ms", "cost"} <= detail.keys()


def test_list_filters_by_status_task_type_and_ai_model_and_paginates(api, ai_model):
    from tests.execution.factories import AIModelFactory

    other = AIModelFactory(name="llama-3-70b")
    for _ in range(3):
        task_create(task_type="implement_idea", ai_model=ai_model)
    task_create(task_type="self_programming", ai_model=ai_model)
    task_create(task_type="implement_idea", ai_model=other)

    def count(**query):
        return len(api.get("/api/tasks/", query).json()["results"])

    assert count() == 5
    assert count(status="needs_review") == 1
    assert count(task_type="implement_idea") == 4
    assert count(ai_model="llama-3-70b") == 1
    assert count(ai_model="qwen2.5-coder-32b", task_type="implement_idea", status="queued") == 3
    assert set(api.get("/api/tasks/").json()) == {"next", "previous", "results"}  # a cursor page counts nothing


def test_list_pages_by_cursor_newest_first_with_a_capped_page_size(api, ai_model, monkeypatch):
    created = [task_create(task_type="implement_idea", ai_model=ai_model).pk for _ in range(5)]
    seen, url = [], "/api/tasks/?page_size=2&status=queued"
    while url:
        page = api.get(url).json()
        assert len(page["results"]) <= 2
        seen += [task["id"] for task in page["results"]]
        url = page["next"]
    assert seen == created[::-1]  # newest first, each task once, across pages
    monkeypatch.setattr(NewestFirstPagination, "max_page_size", 3)
    assert len(api.get("/api/tasks/", {"page_size": 100}).json()["results"]) == 3


def test_a_bad_cursor_is_a_404_and_a_page_number_a_400(api, ai_model):
    task_create(task_type="implement_idea", ai_model=ai_model)
    not_a_time = base64.b64encode(b"p=yesterday").decode()
    assert api.get("/api/tasks/", {"cursor": not_a_time}).status_code == 404
    assert api.get("/api/proposals/", {"cursor": not_a_time}).status_code == 404
    refused = api.get("/api/tasks/", {"page": 2})
    assert refused.status_code == 400 and "follow the `next` link" in refused.json()["page"][0]


def test_api_needs_a_token_and_the_right_permissions(ai_model, offer_builder, reviewer):
    anonymous = APIClient()
    assert anonymous.get("/api/tasks/").status_code == 401
    assert token_client(offer_builder).get("/api/tasks/").status_code == 403
    reader = token_client(reviewer)
    assert reader.get("/api/tasks/").status_code == 200
    body = {"task_type": "implement_idea", "ai_model": ai_model.name}
    assert reader.post("/api/tasks/", body, format="json").status_code == 403
    assert not ExecutionTask.objects.exists()


def test_openapi_schema_is_served(api):
    response = api.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/tasks/{id}/" in response.content
