"""Input that used to reach PostgreSQL or datetime arithmetic and fail there as a 500 is a 400 (or 413) that says
what is wrong, and nothing is written."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from apps.execution.models import ExecutionEvent, ExecutionTask, TaskType
from apps.execution.services import task_validate
from apps.proposals.models import Proposal
from tests.conftest import token_client
from tests.proposals.reports import SAMPLE, report

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(operator):
    return token_client(operator)


def post_json(api, url, text: str):
    return api.post(url, text.encode(), content_type="application/json")


def nothing_written():
    return not ExecutionTask.objects.exists() and not ExecutionEvent.objects.exists()


@pytest.mark.parametrize(("body", "says"), [
    ('{"task_type": "implement\\u0000idea", "ai_model": "m"}', "body.task_type contains a NUL character"),
    ('{"task_type": "implement_idea", "ai_model": "m\\u0000"}', "body.ai_model contains a NUL character"),
    ('{"task_type": "implement_idea", "ai_model": "m", "payload": {"prompt": "a\\u0000b"}}',
     "body.payload.prompt contains a NUL character"),
    ('{"task_type": "implement_idea", "ai_model": "m", "payload": {"\\u0000": 1}}', "a key in body.payload contains"),
    ('{"task_type": "implement_idea", "ai_model": "\\ud800"}', "body.ai_model contains a lone surrogate (\\ud800)"),
    ('{"task_type": "implement_idea", "ai_model": "m", "payload": {"p": "\\udfff"}}', "lone surrogate (\\udfff)"),
    ('{"payload": ' + "[" * 1000 + "]" * 1000 + "}", "nested deeper than 32 levels"),
    ('{"payload": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}", "nested deeper than 32 levels"),
])  # fmt: skip
def test_task_api_refuses_unstorable_json_with_a_400_naming_where(api, ai_model, body, says):
    response = post_json(api, "/api/tasks/", body)
    assert response.status_code == 400, response.content
    assert says in response.json()["detail"]
    assert nothing_written()


def test_the_service_refuses_the_same_for_the_admin_and_the_shell(ai_model):
    with pytest.raises(ValidationError) as refused:
        task_validate(task_type="implement_idea", ai_model=ai_model, payload={"p": "a\x00"})
    assert "payload.p contains a NUL character" in str(refused.value)


def test_an_oversized_ai_model_name_is_a_400(api):
    response = api.post("/api/tasks/", {"task_type": "implement_idea", "ai_model": "m" * 5000}, format="json")
    assert response.status_code == 400
    assert "names have at most 200" in response.json()["ai_model"][0]


def test_an_oversized_payload_is_a_400_naming_the_limit(api, ai_model, settings):
    settings.EXECUTION_PAYLOAD_MAX_BYTES = 1000
    response = api.post("/api/tasks/", {"task_type": "implement_idea", "ai_model": ai_model.name,
                                        "payload": {"prompt": "x" * 2000}}, format="json")  # fmt: skip
    assert response.status_code == 400
    assert "the limit is 1000 (EXECUTION_PAYLOAD_MAX_BYTES)" in response.json()["payload"][0]
    assert nothing_written()


@pytest.mark.parametrize("query", ["status=%00", "ai_model=a%00b", "task_type=%00", "%00=1"])
def test_nul_in_a_query_filter_is_a_400(api, query):
    response = api.get(f"/api/tasks/?{query}")
    assert response.status_code == 400
    assert "contains a NUL character" in response.json()["detail"]


def test_an_unknown_status_filter_is_a_400_listing_the_valid_ones(api):
    response = api.get("/api/tasks/?status=done")
    assert response.status_code == 400
    assert "is not a valid choice" in response.json()["status"][0]


def test_nul_in_an_admin_search_or_form_is_a_400(client, operator):
    client.force_login(operator)
    assert client.get(reverse("admin:execution_executiontask_changelist") + "?q=4%002").status_code == 400
    response = client.post(reverse("admin:execution_executiontask_add"), "task_type=1%00",
                           content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert response.status_code == 400 and "form field 'task_type' contains a NUL character" in response.text


@pytest.mark.parametrize(("text", "field", "says"), [
    (report(body="a" * 101 + ": too long a category"), "category", "at most 100 are allowed"),
    (report(timestamp="9999-12-31T23:59:59-14:00"), "timestamp", "is outside 2000-01-01 to 2100-01-01"),
    (report(timestamp="2000-01-01T00:00:00+14:00"), "timestamp", "is outside"),
    (report(timestamp="0001-01-01T00:00:00+00:00"), "timestamp", "is outside"),
])  # fmt: skip
def test_report_values_postgres_or_datetime_cannot_hold_are_400s(operator, text, field, says):
    response = token_client(operator).post("/api/proposals/", text.encode(), content_type="text/plain")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field and says in response.json()["detail"]
    assert not Proposal.objects.exists()


def test_a_5_mb_report_is_413_naming_the_limit(operator):
    big = report(body="self_improvement: " + "x" * (5 * 1024 * 1024))
    response = token_client(operator).post("/api/proposals/", big.encode(), content_type="text/plain")
    assert response.status_code == 413
    assert response.json()["detail"] == "The report is larger than the limit of 1,048,576 bytes " \
                                        "(PROPOSALS_REPORT_MAX_BYTES)."  # fmt: skip
    assert not Proposal.objects.exists()


def test_a_multi_file_upload_reports_each_file_and_never_500s(client, operator):
    client.force_login(operator)
    files = [
        SimpleUploadedFile("first.txt", SAMPLE.encode(), "text/plain"),
        SimpleUploadedFile("category.txt", report(body="c" * 300 + ": x").encode(), "text/plain"),
        SimpleUploadedFile("overflow.txt", report(timestamp="9999-12-31T23:59:59-14:00").encode(), "text/plain"),
        SimpleUploadedFile("huge.txt", b"x" * (1024 * 1024 + 1), "text/plain"),
        SimpleUploadedFile("last.txt", report().encode(), "text/plain"),
    ]
    response = client.post(reverse("admin:proposals_proposal_upload_reports"), {"files": files})
    assert response.status_code == 200
    outcomes = {row["name"]: (row["outcome"], row.get("detail", "")) for row in response.context["results"]}
    assert outcomes["first.txt"][0] == outcomes["last.txt"][0] == "imported"
    assert outcomes["category.txt"][0] == outcomes["overflow.txt"][0] == outcomes["huge.txt"][0] == "failed"
    assert "the limit is 1,048,576 bytes" in outcomes["huge.txt"][1]
    assert Proposal.objects.count() == 2


def test_import_proposals_continues_past_bad_files_and_names_them(tmp_path, capsys):
    (tmp_path / "a-good.txt").write_text(report())
    (tmp_path / "b-overflow.txt").write_text(report(timestamp="9999-12-31T23:59:59-14:00"))
    (tmp_path / "c-huge.md").write_bytes(b"x" * (1024 * 1024 + 1))
    (tmp_path / "d-good.md").write_text(report())
    with pytest.raises(CommandError, match="imported 2, unchanged 0, failed 2"):
        call_command("import_proposals", str(tmp_path))
    errors = capsys.readouterr().err
    assert "b-overflow.txt: failed: line 3: timestamp:" in errors
    assert "c-huge.md: failed: size: the report is 1,048,577 bytes; the limit is 1,048,576" in errors
    assert Proposal.objects.count() == 2


def test_json_the_admin_cannot_store_is_a_form_error(client, operator, ai_model):
    client.force_login(operator)
    response = client.post(reverse("admin:execution_executiontask_add"), {
        "task_type": TaskType.objects.get(slug="implement_idea").pk, "ai_model": ai_model.name, "priority": "0",
        "payload": json.dumps({"prompt": "a\u0000b"}),
    })  # fmt: skip
    assert response.status_code == 200
    assert "payload.prompt contains a NUL character" in response.text
    assert nothing_written()
