"""The pages people compare numbers on, on demo data, as an operator: the task list with its counts, a failed
task's page, the queue page and the ROI page. Each is checked for what it must show and photographed."""

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from apps.execution.models import ExecutionTask
from tests.browser import BROWSER_MARKS, SCREENSHOTS, login

pytestmark = BROWSER_MARKS


@pytest.fixture
def failed_task_id(settings):
    settings.DEBUG = True
    call_command("seed_demo", "--tasks", "2000", stdout=io.StringIO())
    settings.DEBUG = False
    return ExecutionTask.objects.filter(status="failed").values_list("pk", flat=True).first()


def test_demo_pages_show_their_figures(failed_task_id, live_server, operator, browser_page):
    page = browser_page
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and problems.append(f"{page.url}: {message.text}"))
    page.on("requestfailed", lambda request: problems.append(f"{request.url} failed"))
    login(page, live_server.url, operator)

    page.goto(f"{live_server.url}/admin/execution/executiontask/")
    counts = page.locator("#task-status-counts")
    expect(counts.locator("[data-status=succeeded]")).to_contain_text("Succeeded")
    expect(counts.locator("[data-status=failed]")).not_to_contain_text(" 0")
    page.screenshot(path=SCREENSHOTS / "task-list-counts.png")

    page.goto(f"{live_server.url}/admin/execution/executiontask/{failed_task_id}/change/")
    summary = page.locator("details summary").first
    expect(summary).to_contain_text("openai.")
    expect(page.locator("details pre").first).to_be_hidden()  # the traceback is folded
    page.evaluate("document.querySelector('details').scrollIntoView({block: 'center'})")
    page.screenshot(path=SCREENSHOTS / "task-failed.png")  # the viewport: the sticky footer covers full pages
    summary.click()
    expect(page.locator("details pre").first).to_be_visible()

    page.goto(f"{live_server.url}/admin/execution/executiontask/queues/")
    expect(page.locator("#queues")).to_contain_text("default")
    expect(page.get_by_text("No worker is running")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "queues.png", full_page=True)

    page.goto(f"{live_server.url}/admin/income/incomeevent/roi/?since=2000-01-01&until=2100-01-01")
    expect(page.locator("#roi-table")).to_contain_text("qwen2.5-coder-32b")
    expect(page.locator("canvas").first).to_be_visible()  # the chart of income against AI cost per model
    page.screenshot(path=SCREENSHOTS / "roi-demo.png", full_page=True)
    assert problems == []
