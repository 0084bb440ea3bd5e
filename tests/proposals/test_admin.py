"""The proposals admin: safe rendering of AI-written Markdown, uploads, reviewers' decisions, tasks from reports."""

from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.execution.models import ExecutionTask
from apps.proposals.models import Proposal
from apps.proposals.services import proposal_accept, proposal_ingest

from .reports import SAMPLE, SAMPLE_ID, report

pytestmark = pytest.mark.django_db
LIST_URL = reverse("admin:proposals_proposal_changelist")
HOSTILE_BODY = (
    "self_improvement: <script>alert('body')</script> [click me](javascript:alert('link')) "
    '<img src=x onerror="alert(1)"> <a href="javascript:alert(2)" onclick="alert(3)">raw</a>\n\n'
    "[ok link](https://example.com/docs) and **bold** and `code`\n\n"
    "| stage | ms |\n|---|---|\n| claim | 14 |"
)


class ElementCollector(HTMLParser):
    """Every element of a page with its attributes, and the text of its scripts, as a browser would parse them."""

    def __init__(self):
        super().__init__()
        self.elements, self.scripts, self._in_script = [], [], False

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag):
        self._in_script = False


def live_markup(page: str) -> ElementCollector:
    collector = ElementCollector()
    collector.feed(page)
    return collector


def change_url(proposal) -> str:
    return reverse("admin:proposals_proposal_change", args=[proposal.pk])


def test_hostile_markdown_renders_inert(client, reviewer):
    proposal = proposal_ingest(
        data=report(body=HOSTILE_BODY, risks="- <script>alert('risk')</script>"), source="x"
    ).proposal
    client.force_login(reviewer)
    page = client.get(change_url(proposal)).content.decode()
    markup = live_markup(page)
    assert not any("alert" in script for script in markup.scripts)
    assert not any("alert" in (element[1].get("src") or "") for element in markup.elements if element[0] == "script")
    handlers = [(tag, name) for tag, attrs in markup.elements for name in attrs if name.startswith("on")]
    assert not any("alert" in (attrs.get(name) or "") for tag, attrs in markup.elements for name in attrs
                   if name.startswith("on")), handlers  # fmt: skip
    links = [value for _, attrs in markup.elements for name, value in attrs.items() if name in ("href", "src")]
    assert not any((value or "").strip().lower().startswith(("javascript:", "data:")) for value in links)
    assert "&lt;script&gt;alert(&#x27;body&#x27;)&lt;/script&gt;" in page  # shown as text
    assert '<a href="https://example.com/docs" rel="noopener noreferrer nofollow">ok link</a>' in page
    assert "<strong>bold</strong>" in page and "<table>" in page and "<td>14</td>" in page
    assert "<li>&lt;script&gt;alert(&#x27;risk&#x27;)&lt;/script&gt;</li>" in page


def test_list_highlights_high_severity_and_filters_and_searches(client, operator, settings):
    settings.PROPOSALS_HIGHLIGHT_SEVERITY = 8
    proposal_ingest(data=report(severity="9", body="self_programming: rewrite the audit trail"), source="x")
    proposal_ingest(data=report(severity="3", body="self_improvement: cache ROI"), source="x")
    client.force_login(operator)
    high = client.get(LIST_URL, {"severity_band": "high"})
    assert [p.severity for p in high.context["cl"].result_list] == [9]
    assert "bg-red" in high.content.decode()  # the danger label
    found = client.get(LIST_URL, {"q": "ROI"})
    assert [p.category for p in found.context["cl"].result_list] == ["self_improvement"]
    assert client.get(LIST_URL, {"category": "self_programming"}).context["cl"].result_count == 1


def test_upload_imports_each_file_on_its_own(client, operator):
    client.force_login(operator)
    files = [
        SimpleUploadedFile("sample.txt", SAMPLE.encode(), "text/plain"),
        SimpleUploadedFile("broken.md", report(severity="x").encode(), "text/markdown"),
        SimpleUploadedFile("again.txt", SAMPLE.encode(), "text/plain"),
    ]
    response = client.post(reverse("admin:proposals_proposal_upload_reports"), {"files": files})
    results = {row["name"]: row for row in response.context["results"]}
    assert results["sample.txt"]["outcome"] == "imported" and results["again.txt"]["outcome"] == "unchanged"
    assert results["broken.md"]["outcome"] == "failed"
    assert "line 4: severity: expected a whole number" in results["broken.md"]["detail"]
    assert Proposal.objects.get().report_id == SAMPLE_ID


def test_upload_without_files_says_so(client, operator):
    client.force_login(operator)
    response = client.post(reverse("admin:proposals_proposal_upload_reports"), {})
    assert "Choose at least one report file." in response.content.decode()


def test_reviewer_rejects_with_a_comment_operator_cannot(client, operator, reviewer):
    proposal = proposal_ingest(data=report(), source="x").proposal
    url = reverse("admin:proposals_proposal_reject", args=[proposal.pk])
    client.force_login(operator)
    assert client.post(url, {"comment": "no"}).status_code == 403

    client.force_login(reviewer)
    assert "Say why the proposal is rejected." in client.post(url, {"comment": ""}).content.decode()
    client.post(url, {"comment": "duplicate of an older report"})
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by, proposal.reviewer_comment) == (
        "rejected", reviewer, "duplicate of an older report",
    )  # fmt: skip
    assert proposal.history.first().history_change_reason.startswith("rejected by rita-reviewer")


def test_operator_creates_tasks_from_an_accepted_report(client, operator, reviewer, ai_model):
    proposal = proposal_ingest(data=report(), source="x").proposal
    url = reverse("admin:proposals_proposal_create_tasks", args=[proposal.pk])
    client.force_login(operator)
    assert "accept it first" in client.get(url, follow=True).content.decode()

    proposal_accept(proposal=proposal, reviewer=reviewer)
    form = client.get(url).context["page_form"]
    assert form.initial["task_type"].slug == "self_improvement"  # from the report's category
    response = client.post(url, {"task_type": "", "ai_model": "", "priority": "0", "prompts": "x"})
    assert "Choose the AI model (ai_model) the tasks run on." in response.content.decode()
    assert not ExecutionTask.objects.exists()

    client.post(
        url, {"task_type": "self_improvement", "ai_model": ai_model.name, "priority": "2", "prompts": "one\ntwo"}
    )
    assert proposal.tasks.count() == 2
    page = client.get(change_url(proposal)).content.decode()
    for task in proposal.tasks.all():
        assert reverse("admin:execution_executiontask_change", args=[task.pk]) in page
