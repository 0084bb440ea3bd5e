"""What an operator sees: the task list and add form rendered in headless Chromium, with screenshots."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.execution.services import task_create
from tests.browser import BROWSER_MARKS, SCREENSHOTS, login

pytestmark = BROWSER_MARKS


@pytest.fixture
def tasks(operator, ai_model):
    """Made before the browser starts: Playwright's event loop makes the ORM refuse sync calls."""
    for prompt in ("Summarise FSAR report", "Fix flaky import"):
        task_create(task_type="implement_idea", ai_model=ai_model, payload={"prompt": prompt}, created_by=operator)
    task_create(task_type="self_programming", ai_model=ai_model, payload={"prompt": "<script>alert(1)</script>"})


def test_operator_sees_the_task_list_and_add_form(live_server, operator, tasks, browser_page):
    page = browser_page
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", operator.username)
    page.fill("input[name=password]", "correct horse battery staple")
    page.click("button[type=submit]")
    expect(page.get_by_text("Site administration").or_(page.get_by_text("Execution tasks")).first).to_be_visible()

    page.goto(f"{live_server.url}/admin/execution/executiontask/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3
    assert "needs review" in rows.first.inner_text().lower()
    assert "qwen2.5-coder-32b" in page.inner_text("#result_list")
    page.screenshot(path=SCREENSHOTS / "task-list-operator.png", full_page=True)

    page.goto(f"{live_server.url}/admin/execution/executiontask/add/")
    page.screenshot(path=SCREENSHOTS / "task-add-form.png", full_page=True)
    labels = " ".join(page.locator("form label").all_inner_texts()).lower()
    for label in ("task type", "ai model", "priority", "payload"):
        assert label in labels, labels
    page.select_option("select[name=task_type]", label="implement_idea")
    page.click("button[name=_save]")
    expect(page.get_by_text("Choose the AI model (ai_model) this task runs on.")).to_be_visible()
    assert page.locator(".errorlist, [class*=text-red]").filter(has_text="required").count() == 0
    page.screenshot(path=SCREENSHOTS / "task-add-missing-ai-model.png", full_page=True)
    page.select_option("select[name=ai_model]", label="qwen2.5-coder-32b")
    page.click("button[name=_save]")
    expect(page.get_by_text("was added successfully")).to_be_visible()
    assert page.locator("#result_list tbody tr").count() == 4

    page.goto(f"{live_server.url}/admin/execution/executiontask/")
    # The self_programming task holds a script in its payload.
    page.locator("#result_list tbody tr", has_text="self_programming").locator("a").first.click()
    expect(page.get_by_role("link", name="Events timeline")).to_be_visible()
    assert "<script>alert(1)</script>" in page.inner_text("body")  # shown as text...
    assert page.locator("script", has_text="alert(1)").count() == 0  # ...never as markup
    page.screenshot(path=SCREENSHOTS / "task-detail.png", full_page=True)
    page.get_by_role("link", name="Events timeline").click()
    expect(page.get_by_text("status needs_review")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "task-events.png", full_page=True)
    assert dialogs == []  # nothing from the payload ran


@pytest.fixture
def failed_tasks(ai_model):
    from apps.execution.models import ExecutionTask, TaskType

    echo_type = TaskType.objects.create(slug="echo_work", executor="echo", risk_rated_at=timezone.now())
    failed = ExecutionTask.objects.bulk_create(
        ExecutionTask(
            task_type=echo_type, ai_model=ai_model, status="failed", attempts=1, payload={"n": n},
            error='Traceback (most recent call last):\n  File "executors.py", line 40, in run\nTimeoutError: endpoint',
        )
        for n in range(120)
    )  # fmt: skip
    return failed


def test_operator_retries_every_failed_task_across_pages_and_pauses_execution(
    live_server, operator, failed_tasks, browser_page
):
    page = browser_page
    login(page, live_server.url, operator)

    page.goto(f"{live_server.url}/admin/execution/executiontask/{failed_tasks[0].pk}/change/")
    expect(page.get_by_text("TimeoutError: endpoint").first).to_be_visible()  # light and dark themes
    page.screenshot(path=SCREENSHOTS / "task-failed-detail.png", full_page=True)

    page.goto(f"{live_server.url}/admin/execution/executiontask/?status__exact=failed")
    assert page.locator("#result_list tbody tr").count() == 50  # one page of 120
    page.locator("#action-toggle").check()
    # every task matching the filter, not just this page
    page.get_by_title("Click here to select the objects across all pages").click()
    page.select_option("select[name=action]", "retry_failed")
    page.screenshot(path=SCREENSHOTS / "task-list-select-all-retry.png", full_page=True)
    page.locator("button[name=index], button[type=submit][title=Run]").first.click()
    expect(page.get_by_text("120 changed, 0 skipped")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "task-list-after-bulk-retry.png", full_page=True)

    page.get_by_role("link", name="Execution switch").click()  # in the sidebar
    page.screenshot(path=SCREENSHOTS / "execution-switch.png", full_page=True)
    page.get_by_role("button", name="Pause execution").click()
    expect(page.get_by_text("Say why: a reason is required")).to_be_visible()
    page.fill("textarea[name=reason]", "FSAR fsar_1234 flags blind spots in self_programming")
    page.check("input[name=confirm]")
    page.get_by_role("button", name="Pause execution").click()
    expect(page.locator("#execution-paused-banner")).to_contain_text("olga-operator")
    page.screenshot(path=SCREENSHOTS / "execution-switch-paused.png", full_page=True)

    page.goto(f"{live_server.url}/admin/execution/aimodel/")  # the banner is on every admin page
    expect(page.locator("#execution-paused-banner")).to_contain_text("FSAR fsar_1234 flags blind spots")
    page.screenshot(path=SCREENSHOTS / "banner-on-other-page.png", full_page=True)
