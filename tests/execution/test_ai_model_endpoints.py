"""An AI model's endpoint is where prompts and an API key go: its key variable is allow-listed, setting it is a
superuser's permission, and a new or changed endpoint runs nothing until a reviewer approves it."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.execution.models import AIModel
from apps.execution.services import ai_model_endpoint, ai_model_endpoint_approve, ai_model_save, task_create
from tests.execution.factories import TaskTypeFactory, UserFactory
from tests.fakes.chat_completions import Reply

pytestmark = pytest.mark.django_db
ALLOWED = "QWEN_API_KEY"


@pytest.fixture(autouse=True)
def key_allow_list(settings):
    settings.AI_MODEL_KEY_ENV_ALLOWED = [ALLOWED, "DATABASE_URL"]  # a misconfigured list: the *_API_KEY rule holds


@pytest.fixture
def superuser():
    return UserFactory(username="sam-super", is_staff=True, is_superuser=True)


def endpoint(**fields) -> AIModel:
    defaults = {"name": "qwen-max", "provider": "openai_compatible", "base_url": "https://models.example/v1"}
    return AIModel(**{**defaults, **fields})


@pytest.mark.parametrize("variable", ["SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "DATABASE_URL", "OTHER_API_KEY"])
def test_the_shell_service_refuses_a_key_variable_off_the_allow_list(variable):
    with pytest.raises(ValidationError) as refused:
        ai_model_save(model=endpoint(api_key_env=variable))
    assert f"{variable} is not an allowed API key variable" in refused.value.message_dict["api_key_env"][0]
    assert not AIModel.objects.exists()


def test_the_admin_refuses_secret_key_even_for_a_superuser(client, superuser):
    client.force_login(superuser)
    response = client.post(reverse("admin:execution_aimodel_add"), {
        "name": "qwen-max", "provider": "openai_compatible", "base_url": "https://models.example/v1",
        "api_key_env": "SECRET_KEY", "is_active": "on",
    })  # fmt: skip
    assert response.status_code == 200
    assert "SECRET_KEY is not an allowed API key variable" in response.text
    assert not AIModel.objects.exists()


def test_the_api_refuses_secret_key(superuser):
    api = APIClient()
    api.force_authenticate(superuser)
    response = api.post("/api/ai-models/", {"name": "qwen-max", "provider": "openai_compatible",
                                            "base_url": "https://models.example/v1", "api_key_env": "SECRET_KEY"},
                        format="json")  # fmt: skip
    assert response.status_code == 400
    assert "SECRET_KEY is not an allowed API key variable" in response.json()["api_key_env"][0]
    assert not AIModel.objects.exists()


def test_an_operator_may_add_a_model_but_not_set_its_endpoint(client, operator):
    with pytest.raises(PermissionDenied):
        ai_model_save(model=endpoint(api_key_env=ALLOWED), actor=operator)
    client.force_login(operator)
    response = client.post(reverse("admin:execution_aimodel_add"), {
        "name": "local-echo", "provider": "echo", "base_url": "http://attacker.example/v1", "api_key_env": ALLOWED,
        "is_active": "on",
    })  # fmt: skip
    assert response.status_code == 302, response.context["adminform"].form.errors
    model = AIModel.objects.get(name="local-echo")
    assert (model.base_url, model.api_key_env) == ("", "")  # the fields were read-only for them
    api = APIClient()
    api.force_authenticate(operator)
    response = api.post("/api/ai-models/", {"name": "qwen-max", "provider": "openai_compatible",
                                            "base_url": "https://models.example/v1"}, format="json")  # fmt: skip
    assert response.status_code == 403


def test_an_operator_adding_an_openai_model_is_told_why_not_without_a_500(client, operator):
    client.force_login(operator)
    response = client.post(reverse("admin:execution_aimodel_add"), {"name": "qwen-max",
                                                                     "provider": "openai_compatible"})  # fmt: skip
    assert response.status_code == 200
    assert "endpoint base URL: An OpenAI-compatible model needs its endpoint base URL" in response.text


def test_changing_an_endpoint_withdraws_its_approval_and_a_reviewer_restores_it(superuser, reviewer, operator):
    model = ai_model_save(model=endpoint(api_key_env=ALLOWED), actor=superuser)
    assert not model.endpoint_approved
    with pytest.raises(PermissionDenied):
        ai_model_endpoint_approve(model=model, actor=operator)
    model = ai_model_endpoint_approve(model=model, actor=reviewer)
    assert model.endpoint_approved and model.endpoint_approved_by == reviewer
    model.input_price_per_million = "1.00"
    assert ai_model_save(model=model, actor=operator).endpoint_approved  # prices are not the endpoint
    model.base_url = "https://elsewhere.example/v1"
    model = ai_model_save(model=model, actor=superuser)
    assert not AIModel.objects.get(pk=model.pk).endpoint_approved
    reasons = list(model.history.values_list("history_change_reason", flat=True))
    assert "endpoint approved by rita-reviewer" in reasons
    assert reasons.count("endpoint set or changed: its tasks wait for an approval") == 2


def test_nobody_approves_an_endpoint_they_set_or_one_that_changed_since_they_looked(superuser, reviewer):
    model = ai_model_save(model=endpoint(api_key_env=ALLOWED), actor=superuser)
    with pytest.raises(PermissionDenied, match="sam-super set this endpoint: another person approves it"):
        ai_model_endpoint_approve(model=model, actor=superuser)
    seen = ai_model_endpoint(model)
    model.base_url = "https://elsewhere.example/v1"
    ai_model_save(model=model, actor=superuser)
    with pytest.raises(ValidationError, match="changed since you looked at it"):
        ai_model_endpoint_approve(model=model, actor=reviewer, seen=seen)
    assert not AIModel.objects.get(pk=model.pk).endpoint_approved
    assert ai_model_endpoint_approve(model=model, actor=reviewer, seen=ai_model_endpoint(model)).endpoint_approved


def test_the_approval_page_approves_only_what_it_showed(client, superuser, reviewer):
    model = ai_model_save(model=endpoint(api_key_env=ALLOWED), actor=superuser)
    client.force_login(reviewer)
    url = reverse("admin:execution_aimodel_approve_endpoint", args=[model.pk])
    shown = client.get(url).context["page_form"]["endpoint"].value()
    model.base_url = "https://elsewhere.example/v1"
    ai_model_save(model=model, actor=superuser)
    assert client.post(url, {"endpoint": shown}).status_code == 302
    assert not AIModel.objects.get(pk=model.pk).endpoint_approved
    fresh = client.get(url).context["page_form"]["endpoint"].value()
    client.post(url, {"endpoint": fresh})
    assert AIModel.objects.get(pk=model.pk).endpoint_approved_by == reviewer


def test_a_model_whose_name_has_a_slash_is_read_back_by_name(operator):
    AIModel.objects.create(name="Qwen/Qwen2.5-Coder-32B-Instruct", provider="echo")
    api = APIClient()
    api.force_authenticate(operator)
    response = api.get("/api/ai-models/Qwen/Qwen2.5-Coder-32B-Instruct/")
    assert response.status_code == 200 and response.json()["name"] == "Qwen/Qwen2.5-Coder-32B-Instruct"


def test_endpoint_hosts_can_be_limited(settings, superuser):
    settings.AI_MODEL_ENDPOINT_HOSTS_ALLOWED = ["models.example"]
    ai_model_save(model=endpoint(), actor=superuser)
    with pytest.raises(ValidationError, match="attacker.example is not an allowed endpoint host"):
        ai_model_save(model=endpoint(name="other", base_url="http://attacker.example/v1"), actor=superuser)


@pytest.fixture
def chat_type():
    return TaskTypeFactory(slug="chat_work", executor="openai_compatible", max_attempts=2, timeout_seconds=3)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_model_saved_before_the_allow_list_fails_its_task_without_sending_the_secret(
    chat_type, chat_server, run_workers
):
    model = AIModel.objects.create(  # as a row written before the allow-list existed
        name="legacy", provider="openai_compatible", base_url=chat_server.base_url, api_key_env="SECRET_KEY",
        endpoint_approved_at=timezone.now(),
    )  # fmt: skip
    task = task_create(task_type=chat_type, ai_model=model, payload={"prompt": "x"})
    run_workers(SECRET_KEY="the-console-secret")
    task.refresh_from_db()
    assert (task.status, task.attempts) == ("failed", 1)
    assert "AI model legacy is refused: SECRET_KEY is not an allowed API key variable" in task.error
    assert chat_server.requests == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_unapproved_endpoint_runs_nothing_until_approved(chat_type, chat_server, run_workers, superuser):
    model = AIModel.objects.create(name="fresh", provider="openai_compatible", base_url=chat_server.base_url)
    task = task_create(task_type=chat_type, ai_model=model, payload={"prompt": "x"})
    run_workers()
    task.refresh_from_db()
    assert task.status == "failed"
    assert "the endpoint of AI model fresh is new or changed and awaits approval" in (task.error)
    assert chat_server.requests == []
    ai_model_endpoint_approve(model=model, actor=superuser)
    chat_server.replies = [Reply(content="reviewed")]
    second = task_create(task_type=chat_type, ai_model=model, payload={"prompt": "y"})
    run_workers()
    second.refresh_from_db()
    assert second.status == "succeeded" and len(chat_server.requests) == 1
