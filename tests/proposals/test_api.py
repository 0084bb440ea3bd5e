import pytest
from rest_framework.test import APIClient

from apps.proposals.models import Proposal
from tests.conftest import token_client

from .reports import SAMPLE, SAMPLE_ID, report

pytestmark = pytest.mark.django_db
URL = "/api/proposals/"


@pytest.fixture
def api(operator):
    return token_client(operator)


def post(api, body, content_type="text/plain; charset=utf-8"):
    return api.post(URL, body if isinstance(body, bytes) else body.encode(), content_type=content_type)


def test_new_report_is_201_then_200_unchanged_then_409_on_another_text(api):
    created = post(api, SAMPLE)
    assert created.status_code == 201
    assert created.json()["report_id"] == SAMPLE_ID and created.json()["severity"] == 6
    assert Proposal.objects.get().source == "api: olga-operator"

    assert post(api, SAMPLE, "text/markdown").status_code == 200

    conflict = post(api, SAMPLE.replace("- severity: 6", "- severity: 7"))
    assert conflict.status_code == 409
    assert conflict.json()["report_id"] == SAMPLE_ID and "another text" in conflict.json()["detail"]
    assert Proposal.objects.get().severity == 6


@pytest.mark.parametrize(
    ("body", "line", "field"),
    [
        (report(severity="11"), 4, "severity"),
        (report().encode().replace(b"Profile", b"\xff"), 8, "encoding"),
        ("", 1, "title"),
    ],
)
def test_bad_report_is_400_with_the_parsers_error_and_nothing_written(api, body, line, field):
    response = post(api, body)
    assert response.status_code == 400
    assert (response.json()["line"], response.json()["field"]) == (line, field)
    assert response.json()["detail"].startswith(f"line {line}: {field}: ")
    assert not Proposal.objects.exists()


def test_anonymous_and_reviewers_cannot_post(reviewer):
    assert APIClient().post(URL, SAMPLE, content_type="text/plain").status_code == 401
    assert post(token_client(reviewer), SAMPLE).status_code == 403
    assert token_client(reviewer).get(URL).status_code == 200  # reviewers read
    assert not Proposal.objects.exists()


def test_json_body_is_415(api):
    assert api.post(URL, {"text": SAMPLE}, format="json").status_code == 415
