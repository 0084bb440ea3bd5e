"""Big-table changelists cost the same number of queries for 5 rows as for 50 (no query per row), never count a
whole table, and say honestly when a count is an estimate or capped (issue 15)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core import admin_lists
from apps.core.admin_lists import LargeTableAdminMixin, LargeTablePaginator
from apps.execution.admin import ExecutionTaskAdmin
from apps.execution.models import ExecutionEvent, ExecutionTask, TaskType
from apps.execution.services import tasks_create_many
from apps.income.models import IncomeEvent
from apps.offers.models import OfferTemplate
from apps.proposals.models import Proposal

pytestmark = pytest.mark.django_db
ROWS = 60
BIG_TABLE_ADMINS = [
    model_admin for model_admin in admin.site._registry.values() if isinstance(model_admin, LargeTableAdminMixin)
]


@pytest.fixture
def rows(ai_model):
    """More than a page of every big table, each row with every related object its list shows."""
    task_type = TaskType.objects.get(slug="implement_idea")
    tasks = tasks_create_many(task_type=task_type, ai_model=ai_model, payloads=[{"n": n} for n in range(ROWS)])
    ExecutionEvent.objects.update(actor=get_user_model().objects.create_user("someone"))  # the events list shows it
    offer = OfferTemplate.objects.create(name="Code Review", slug="code-review", task_type=task_type,
                                         ai_model=ai_model, price="49.00", currency="usd")  # fmt: skip
    now = timezone.now()
    IncomeEvent.objects.bulk_create(
        IncomeEvent(kind="payment", amount=Decimal("10"), currency="usd", occurred_at=now - timedelta(minutes=n),
                    stripe_event_id=f"evt_{n}", stripe_object_id=f"pi_{n}", payment_intent_id=f"pi_{n}",
                    offer=offer, task_id=task, ai_model=ai_model, task_type=task_type)
        for n, task in enumerate(tasks)
    )  # fmt: skip
    Proposal.objects.bulk_create(
        Proposal(report_id=f"report-{n}", reported_at=now - timedelta(hours=n), severity=n % 11,
                 block_execution=False, category=("performance", "security")[n % 2],
                 body=f"Latency regression number {n} in implement_idea.", raw_text="-", source="test")
        for n in range(ROWS)
    )  # fmt: skip
    return tasks


def list_urls(model_admin, user) -> list[str]:
    """The list itself and the first choice of each of its filters."""
    opts = model_admin.model._meta
    url = f"/admin/{opts.app_label}/{opts.model_name}/"
    request = RequestFactory().get(url)
    request.user = user
    changelist = model_admin.get_changelist_instance(request)
    urls = [url]
    for spec in changelist.filter_specs:
        choice = next((choice for choice in spec.choices(changelist) if not choice["selected"]), None)
        if choice:
            urls.append(url + choice["query_string"])
    return urls


def page_queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    assert isinstance(response.context["cl"].paginator, LargeTablePaginator), url
    return [query["sql"] for query in queries]


@pytest.mark.parametrize("model_admin", BIG_TABLE_ADMINS, ids=lambda model_admin: model_admin.model._meta.label)
def test_a_page_of_50_rows_costs_what_a_page_of_5_does_and_no_query_counts_the_table(
    model_admin, rows, client, monkeypatch
):
    superuser = get_user_model().objects.create_superuser("root", password="-")  # noqa: S106
    client.force_login(superuser)
    for url in list_urls(model_admin, superuser):
        monkeypatch.setattr(model_admin, "list_per_page", 5)
        few = page_queries(client, url)
        monkeypatch.setattr(model_admin, "list_per_page", 50)
        many = page_queries(client, url)
        assert len(many) == len(few), f"{url}: {len(many) - len(few)} more queries for 45 more rows: {many[-3:]}"
        counts = [sql for sql in many if re.search(r"\bCOUNT\(", sql)]
        assert all("LIMIT" in sql for sql in counts), f"{url} counts the whole table: {counts}"
        assert not [sql for sql in many if "DISTINCT" in sql.upper() and model_admin.model._meta.db_table in sql]


def test_counts_say_when_they_are_estimates_or_capped(rows, client, monkeypatch):
    monkeypatch.setattr(admin_lists, "COUNT_CAP", 20)
    superuser = get_user_model().objects.create_superuser("root", password="-")  # noqa: S106
    client.force_login(superuser)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE execution_tasks")  # what autovacuum does on a real table

    unfiltered = client.get("/admin/execution/executiontask/")
    paginator = unfiltered.context["cl"].paginator
    assert (paginator.count_is, paginator.count, paginator.num_pages) == ("estimated", ROWS, 20 // 50 or 1)
    assert b"about 60 execution tasks" in unfiltered.content
    assert b"Select all about 60 execution tasks" in unfiltered.content  # the actions bar says it too

    filtered = client.get("/admin/execution/executiontask/?status__exact=queued")
    assert filtered.context["cl"].paginator.count_is == "capped"
    assert b"more than 20 execution tasks" in filtered.content
    assert b"20 results" not in filtered.content  # the header does not print a capped count as exact

    few = client.get(f"/admin/execution/executiontask/?q={rows[0]}")
    assert few.context["cl"].paginator.count_text == "1" and len(few.context["cl"].result_list) == 1


@pytest.mark.parametrize(
    ("url", "term", "expected"),
    [
        ("/admin/execution/executiontask/", "{task}", 1),
        ("/admin/execution/executiontask/", "task-{task}-1", 1),  # the RQ job id
        ("/admin/execution/executiontask/", "99999999999999999999", 0),  # beyond bigint: no match, no error
        ("/admin/execution/executionevent/", "{task}", 2),  # its created and queued events
        ("/admin/income/incomeevent/", "evt_3", 1),
        ("/admin/proposals/proposal/", "report-7", 1),
        ("/admin/proposals/proposal/", "regression implement_idea", ROWS),  # words, through the GIN index
        ("/admin/proposals/proposal/", "no such words", 0),
    ],
)
def test_search_finds_exact_ids_and_words(rows, client, url, term, expected):
    client.force_login(get_user_model().objects.create_superuser("root", password="-"))  # noqa: S106
    response = client.get(url, {"q": term.format(task=rows[0]), "all": ""})
    assert response.status_code == 200
    assert response.context["cl"].paginator.count == expected


@pytest.mark.parametrize(
    ("query", "problem"),
    [("severity=abc", "not a severity"), ("error__icontains=timeout", "a lookup no filter offers")],
)
def test_a_bad_or_unoffered_filter_is_refused_without_a_500(rows, client, query, problem):
    client.force_login(get_user_model().objects.create_superuser("root", password="-"))  # noqa: S106
    url = "/admin/proposals/proposal/" if query.startswith("severity") else "/admin/execution/executiontask/"
    response = client.get(f"{url}?{query}")
    assert response.status_code in (302, 400), problem  # the admin's "invalid filter" redirect, or Bad Request
    if response.status_code == 302:
        assert response.url.endswith("?e=1")


def test_a_column_without_an_index_cannot_be_sorted_even_through_the_url(rows, client):
    client.force_login(get_user_model().objects.create_superuser("root", password="-"))  # noqa: S106
    priority_column = ExecutionTaskAdmin.list_display.index("priority")
    response = client.get("/admin/execution/executiontask/", {"o": str(priority_column)})
    assert response.status_code == 200
    assert "priority" not in response.context["cl"].get_ordering(response.wsgi_request, ExecutionTask.objects.all())
