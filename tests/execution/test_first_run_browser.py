"""A first run: a freshly migrated database, what `make run` adds to it (`seed_demo --basics`: the echo AI
model), an operator who creates a task in the admin and watches its page go from queued to succeeded while a
real worker runs it. No other setup."""

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.browser import BROWSER_MARKS, SCREENSHOTS, login

from .conftest import worker_start

pytestmark = BROWSER_MARKS


@pytest.fixture
def first_run(settings):
    settings.DEBUG = True  # as under `make run`; the pages are then served with DEBUG off
    call_command("seed_demo", "--basics", stdout=io.StringIO())
    settings.DEBUG = False


@pytest.mark.usefixtures("first_run")
def test_a_task_created_in_the_admin_on_a_fresh_install_succeeds(live_server, operator, browser_page):
    page = browser_page
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    login(page, live_server.url, operator)
    page.goto(f"{live_server.url}/admin/execution/executiontask/add/")
    page.select_option("#id_task_type", label="implement_idea")
    page.select_option("#id_ai_model", label="echo")
    page.fill("#id_payload", '{"prompt": "Say hello"}')
    page.click("button[name=_save]")
    page.get_by_role("link", name="implement_idea").first.click()
    expect(page.locator("#task-live")).to_contain_text("updates itself")
    expect(page.get_by_text("Queued", exact=True).first).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "task-queued.png", full_page=True)

    worker = worker_start()  # a real burst worker: it runs the task and exits
    assert worker.wait(timeout=120) == 0, worker.stdout.read()
    expect(page.get_by_text("Succeeded", exact=True).first).to_be_visible(timeout=20_000)  # the page reloaded itself
    expect(page.locator("#task-live")).not_to_contain_text("updates itself")
    expect(page.get_by_text('"Say hello"').first).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "task-succeeded.png", full_page=True)
    assert problems == []
