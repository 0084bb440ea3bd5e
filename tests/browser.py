"""Driving the admin in headless Chromium (Debian's package; Playwright cannot download browsers here)."""

from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
BROWSER_MARKS = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: `make browser-deps` (CI installs it)"),
]


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        yield page
        browser.close()


def login(page, base_url, user):
    page.goto(f"{base_url}/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "correct horse battery staple")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/admin/")
