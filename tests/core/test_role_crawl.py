"""Every admin page a person can reach from the navigation, as each role, on demo data, in headless Chromium.

From the admin index (sidebar and app list) the crawl follows every admin link on every page it opens, one URL
per shape (`/admin/execution/executiontask/<id>/change/` once, whatever the id): lists, an object of every
model, its history and a past version of it, the buttons on each page (their confirmation pages: a GET changes
nothing). It fails on any answer of 400 or more for a link shown to that user (a 5xx, a 403 behind a button)
and on any JavaScript error or console error. On an empty database the income ledger's row page was never
reached: this crawl runs on `seed_demo` data."""

import io
import re
import time

import pytest
from django.core.management import call_command

from tests.browser import BROWSER_MARKS, login
from tests.execution.factories import UserFactory

pytestmark = BROWSER_MARKS

PAGES_MAX = 300  # per role: every shape of URL the navigation leads to is well under this
SETTLE_SECONDS_MAX = 10
SKIPPED = re.compile(r"/(logout|delete|password|jsi18n|r)/|/admin/rq/|\?|#")
ID_SEGMENT = re.compile(r"^(?![a-z_-]+$).+$")  # a path segment that is an object id, not a name


def shape(path: str) -> str:
    return "/".join("<id>" if ID_SEGMENT.match(part) else part for part in path.split("/"))


@pytest.fixture
def demo_data(settings):
    settings.DEBUG = True  # seed_demo refuses to run otherwise; the pages are then served with DEBUG off
    call_command("seed_demo", "--tasks", "300", stdout=io.StringIO())
    settings.DEBUG = False


def crawl(page, base_url: str, user) -> tuple[list[str], list[str]]:
    """Log in, then visit everything reachable from the index; return (pages visited, problems found)."""
    problems: list[str] = []
    current = {"url": "/admin/login/"}
    page.on("console", lambda message: message.type == "error" and problems.append(
        f"console error on {current['url']}: {message.text}"))  # fmt: skip
    page.on("pageerror", lambda error: problems.append(f"script error on {current['url']}: {error}"))
    in_flight: set = set()  # requests a page's scripts made after its load event (charts, polling)
    page.on("request", lambda request: in_flight.add(request))
    page.on("requestfinished", lambda request: in_flight.discard(request))
    page.on("requestfailed", lambda request: in_flight.discard(request))
    login(page, base_url, user)
    queue, seen_shapes, visited = ["/admin/"], set(), []
    while queue and len(visited) < PAGES_MAX:
        path = queue.pop(0)
        if shape(path) in seen_shapes:
            continue
        seen_shapes.add(shape(path))
        current["url"] = path
        response = page.goto(f"{base_url}{path}")  # returns at the load event: scripts, styles, images in
        settle_until = time.monotonic() + SETTLE_SECONDS_MAX  # then what the scripts fetched; not "networkidle",
        while in_flight and time.monotonic() < settle_until:  # whose fixed 0.5 s quiet was 2/3 of the crawl
            page.wait_for_timeout(20)
        visited.append(path)
        if response is None or response.status >= 400:
            problems.append(f"{path} answered {response.status if response else 'nothing'}")
            continue
        links = page.eval_on_selector_all("a[href^='/admin/']", "links => links.map(link => link.getAttribute('href'))")
        queue += [link for link in links if not SKIPPED.search(link) and shape(link) not in seen_shapes]
    return visited, problems


@pytest.fixture(params=["superuser", "operator", "offer_builder", "reviewer"])
def role_user(request, demo_data):
    """Made before the browser starts: Playwright's loop would make a database call here an async one."""
    if request.param == "superuser":
        return request.param, UserFactory(username="sam-superuser", is_staff=True, is_superuser=True)
    return request.param, request.getfixturevalue(request.param)


def test_every_page_reachable_from_the_navigation_works_for_each_role(role_user, live_server, browser_page):
    role, user = role_user
    visited, problems = crawl(browser_page, live_server.url, user)
    assert not problems, "\n".join(problems)
    assert len(visited) >= 10, visited  # the crawl really went somewhere
    if role in ("superuser", "operator", "offer_builder"):
        assert any(shape(path) == "/admin/income/incomeevent/<id>/change/" for path in visited), visited
    if role in ("superuser", "operator", "reviewer"):
        assert any(shape(path) == "/admin/execution/executiontask/<id>/history/" for path in visited), visited
