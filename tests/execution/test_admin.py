import json

import pytest
from django.urls import reverse

from apps.execution.models import ExecutionEvent, ExecutionTask
from apps.execution.services import task_create

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:execution_executiontask_add")
LIST_URL = reverse("admin:execution_executiontask_changelist")


def add_form(task_type_id, ai_model="", payload="{}"):
    return {"task_type": task_type_id, "ai_model": ai_model, "priority": "0", "payload": payload}


@pytest.fixture
def implement_idea():
    from apps.execution.models import TaskType

    return TaskType.objects.get(slug="implement_idea")


def test_operator_adding_a_task_without_ai_model_sees_the_error_and_nothing_is_saved(
    client, operator, implement_idea, ai_model
):
    client.force_login(operator)
    response = client.post(ADD_URL, add_form(implement_idea.pk))
    assert response.status_code == 200
    assert "Choose the AI model (ai_model) this task runs on." in response.content.decode()
    assert set(response.context["adminform"].form.errors) == {"ai_model"}
    assert not ExecutionTask.objects.exists()
    assert not ExecutionEvent.objects.exists()


def test_operator_cannot_pick_an_inactive_model(client, operator, implement_idea, ai_model):
    ai_model.is_active = False
    ai_model.save()
    client.force_login(operator)
    response = client.post(ADD_URL, add_form(implement_idea.pk, ai_model.name))
    assert "Select a valid choice" in response.content.decode()
    assert not ExecutionTask.objects.exists()


def test_payload_must_be_a_json_object_in_the_admin(client, operator, implement_idea, ai_model):
    client.force_login(operator)
    response = client.post(ADD_URL, add_form(implement_idea.pk, ai_model.name, payload="[1, 2]"))
    assert "payload must be a JSON object, got list." in response.content.decode()
    assert not ExecutionTask.objects.exists()


def test_operator_creates_a_task_through_the_service(client, operator, implement_idea, ai_model):
    client.force_login(operator)
    payload = json.dumps({"prompt": "Write the changelog"})
    response = client.post(ADD_URL, add_form(implement_idea.pk, ai_model.name, payload=payload))
    assert response.status_code == 302
    task = ExecutionTask.objects.get()
    assert (task.ai_model_id, task.created_by, task.payload) == (
        ai_model.name,
        operator,
        {"prompt": "Write the changelog"},
    )
    assert list(task.events.values_list("kind", flat=True)) == ["created", "queued"]
    assert task.history.get().history_user == operator


def test_task_page_shows_the_events_timeline(client, operator, ai_model):
    task = task_create(task_type="implement_idea", ai_model=ai_model, payload={"prompt": "x"})
    client.force_login(operator)
    page = client.get(reverse("admin:execution_executiontask_change", args=[task.pk])).content.decode()
    assert "events timeline" in page.lower()
    assert "status pending" in page and "queued" in page


def test_a_task_page_is_read_only_and_priority_changes_through_its_button(client, operator, ai_model):
    task = task_create(task_type="implement_idea", ai_model=ai_model)
    client.force_login(operator)
    url = reverse("admin:execution_executiontask_change", args=[task.pk])
    generic = client.post(url, {"priority": "7", "status": "succeeded", "ai_model": "other",
                                "events-TOTAL_FORMS": "0", "events-INITIAL_FORMS": "1"})  # fmt: skip
    assert generic.status_code == 403
    priority_url = reverse("admin:execution_executiontask_set_priority", args=[task.pk])
    assert client.post(priority_url, {"priority": "700"}).status_code == 200  # out of range: the form says so
    response = client.post(priority_url, {"priority": "7"})
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.priority, task.status, task.ai_model_id) == (7, "queued", ai_model.name)
    assert task.history.order_by("-history_id").first().history_user == operator


@pytest.mark.parametrize(
    ("role", "url", "expected"),
    [
        ("operator", LIST_URL, 200),
        ("operator", ADD_URL, 200),
        ("reviewer", LIST_URL, 200),
        ("reviewer", ADD_URL, 403),
        ("offer_builder", LIST_URL, 403),
        ("offer_builder", reverse("admin:execution_aimodel_changelist"), 200),
    ],
)
def test_roles_see_what_their_permissions_allow(client, request, role, url, expected):
    client.force_login(request.getfixturevalue(role))
    assert client.get(url).status_code == expected


def test_events_are_read_only_in_the_admin(client, operator, ai_model):
    task = task_create(task_type="implement_idea", ai_model=ai_model)
    client.force_login(operator)
    event = task.events.first()
    assert client.get(reverse("admin:execution_executionevent_changelist")).status_code == 200
    assert (
        client.post(reverse("admin:execution_executionevent_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert task.events.count() == 2
