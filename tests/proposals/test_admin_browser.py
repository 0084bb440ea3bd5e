"""What a reviewer sees of a report: rendered body, risks and mitigations, the raw text; and acknowledging it."""

import pytest
from playwright.sync_api import expect

from apps.proposals.services import proposal_ingest
from tests.browser import BROWSER_MARKS, SCREENSHOTS, login

from .reports import SAMPLE, report

pytestmark = BROWSER_MARKS


@pytest.fixture
def reports(db):
    """Made before the browser starts: Playwright's event loop makes the ORM refuse sync calls."""
    sample = proposal_ingest(data=SAMPLE, source="file: report-sample.txt").proposal
    blocking = proposal_ingest(
        data=report(block_execution="true", severity="9", body="self_programming: <script>alert(1)</script> stop"),
        source="api: ai",
    ).proposal
    return sample, blocking


def test_reviewer_reads_the_sample_report_and_acknowledges_a_blocking_one(live_server, reviewer, reports, browser_page):
    sample, blocking = reports
    page = browser_page
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    login(page, live_server.url, reviewer)

    page.goto(f"{live_server.url}/admin/proposals/proposal/")
    expect(page.locator("#execution-paused-banner")).to_contain_text(blocking.report_id)
    page.screenshot(path=SCREENSHOTS / "proposal-list.png", full_page=True)

    page.goto(f"{live_server.url}/admin/proposals/proposal/{sample.pk}/change/")
    expect(page.get_by_role("heading", name="1. Database Schema Improvement")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "proposal-body.png", full_page=True)
    page.get_by_text("Risks and mitigations", exact=True).click()
    expect(page.locator("li", has_text="Prefer reversible rollouts")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "proposal-risks.png", full_page=True)

    page.goto(f"{live_server.url}/admin/proposals/proposal/{blocking.pk}/change/")
    page.get_by_role("link", name="Acknowledge").click()
    page.fill("textarea[name=comment]", "read; the block can go")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text(f"{blocking.report_id} acknowledged.")).to_be_visible()
    expect(page.locator("#execution-paused-banner")).to_have_count(0)
    page.screenshot(path=SCREENSHOTS / "proposal-acknowledged.png", full_page=True)
    assert dialogs == []


def test_operator_uploads_reports_and_reads_each_result_without_script_errors(live_server, operator, browser_page,
                                                                               tmp_path):  # fmt: skip
    page = browser_page
    problems = []
    page.on("pageerror", lambda error: problems.append(f"{error} {error.stack}"))  # where it broke
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    good, bad = tmp_path / "report-sample.txt", tmp_path / "broken.txt"
    good.write_text(SAMPLE)
    bad.write_text("# FSAR Proposal Report\n- id: nope\n")
    login(page, live_server.url, operator)
    page.goto(f"{live_server.url}/admin/proposals/proposal/upload/")
    expect(page.get_by_role("heading", name="Upload FSAR reports")).to_be_visible()
    page.set_input_files("input[type=file]", [str(good), str(bad)])
    page.get_by_role("button", name="Import").click()
    results = page.locator("#upload-results")
    expect(results).to_contain_text("imported")
    expect(results).to_contain_text("failed")
    page.screenshot(path=SCREENSHOTS / "proposal-upload-results.png", full_page=True)
    assert problems == []
