"""django-simple-history's revert form wrote for anyone who could view: each write the probe made through it is
now refused, for every role and for superusers, and the object is unchanged."""

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.execution.models import AIModel, ExecutionControl, TaskType
from apps.execution.services import task_create
from apps.offers.models import OfferTemplate
from apps.proposals.models import Proposal
from apps.proposals.services import proposal_acknowledge, proposal_ingest
from tests.execution.factories import UserFactory
from tests.proposals.reports import report

pytestmark = pytest.mark.django_db


def oldest_version_url(obj) -> str:
    version = obj.history.order_by("history_id").first()
    return reverse(
        f"admin:{obj._meta.app_label}_{obj._meta.model_name}_simple_history", args=[obj.pk, version.history_id]
    )


@pytest.fixture
def superuser():
    return UserFactory(username="sam-super", is_staff=True, is_superuser=True)


def test_reviewer_cannot_resume_held_execution_through_the_switch_history(client, reviewer):
    control = ExecutionControl.objects.get_or_create(pk=1)[0]
    control.save()  # a "running" version to revert to
    proposal_ingest(data=report(block_execution="true"), source="test")  # pauses, held by the blocking report
    assert ExecutionControl.objects.get(pk=1).paused
    client.force_login(reviewer)
    response = client.post(oldest_version_url(control), {"paused": "", "reason": "", "pulled_by": ""})
    assert response.status_code == 403
    assert ExecutionControl.objects.get(pk=1).paused


@pytest.mark.parametrize("role", ["reviewer", "operator", "superuser"])
def test_nobody_removes_the_review_gate_of_a_task_type_by_reverting(client, request, role):
    task_type = TaskType.objects.get(slug="self_programming")
    original = (task_type.risk_level, task_type.requires_review)
    task_type.description = "edited"
    task_type.save()
    client.force_login(request.getfixturevalue(role))
    data = {"slug": "self_programming", "executor": "echo", "timeout_seconds": "600", "max_attempts": "3",
            "risk_level": "low", "requires_review": ""}  # fmt: skip
    assert client.post(oldest_version_url(task_type), data).status_code == 403
    task_type.refresh_from_db()
    assert (task_type.risk_level, task_type.requires_review) == original


@pytest.mark.parametrize("role", ["offer_builder", "reviewer"])
def test_nobody_redirects_an_ai_model_endpoint_by_reverting(client, request, role, ai_model):
    client.force_login(request.getfixturevalue(role))
    data = {"name": ai_model.name, "provider": "openai_compatible", "base_url": "http://attacker.example/v1",
            "api_key_env": "SECRET_KEY", "is_active": "on"}  # fmt: skip
    assert client.post(oldest_version_url(ai_model), data).status_code == 403
    assert AIModel.objects.get(pk=ai_model.pk).api_key_env == ""


@pytest.mark.parametrize("role", ["operator", "reviewer"])
def test_nobody_changes_an_offer_price_or_a_report_status_by_reverting(client, request, role, ai_model, reviewer):
    offer = OfferTemplate.objects.create(
        name="Code review",
        slug="code-review",
        ai_model=ai_model,
        price="49.00",
        task_type=TaskType.objects.get(slug="implement_idea"),
        currency="usd",
    )
    proposal = proposal_ingest(data=report(), source="test").proposal
    proposal_acknowledge(proposal=proposal, reviewer=reviewer)
    client.force_login(request.getfixturevalue(role))
    assert client.post(oldest_version_url(offer), {"price": "1.00", "currency": "usd"}).status_code == 403
    assert client.post(oldest_version_url(proposal), {"status": "new"}).status_code == 403
    assert OfferTemplate.objects.get(pk=offer.pk).price == Decimal("49.00")
    assert Proposal.objects.get(pk=proposal.pk).status == "acknowledged"


def test_reviewer_cannot_change_a_task_priority_by_reverting_but_may_read_the_version(client, reviewer, ai_model):
    task = task_create(task_type="implement_idea", ai_model=ai_model, payload={"prompt": "x"})
    client.force_login(reviewer)
    url = oldest_version_url(task)
    assert client.get(url).status_code == 200
    assert client.post(url, {"priority": "99"}).status_code == 403
    task.refresh_from_db()
    assert task.priority == 0
