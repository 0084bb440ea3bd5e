"""The admin index is the operations dashboard: each role sees the sections it may follow, every chart links to
the filtered list behind it, and it reads rollups and small tables only (tasks are counted through the status
index, each count capped). /metrics speaks Prometheus behind a token or an allow-list. Findings are triaged in the
admin: acknowledge, assign, mute until a date, resolve with a note, each in the audit log."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.auditlog.models import AuditLog
from apps.execution.models import ExecutionTask, TaskType
from apps.metrics.findings import detectors_run
from apps.metrics.models import Finding
from tests.execution.factories import AIModelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished_work(db):
    model = AIModelFactory(name="dash-model").name
    task_type = TaskType.objects.get(slug="implement_idea")
    now = timezone.now()
    ExecutionTask.objects.bulk_create(
        ExecutionTask(task_type=task_type, ai_model_id=model, status="failed" if n % 4 == 0 else "succeeded",
                      payload={}, attempts=1, finished_at=now - timedelta(hours=n % 30), duration_ms=1000 + 37 * n)
        for n in range(80)
    )  # fmt: skip
    ExecutionTask.objects.create(task_type=task_type, ai_model_id=model, status="queued", payload={})
    return model, task_type


def login(client, user):
    client.force_login(user)
    return client


def test_each_role_sees_the_sections_it_may_follow(client, operator, offer_builder, reviewer, finished_work):
    sections = {}
    for user in (operator, offer_builder, reviewer):
        page = login(client, user).get(reverse("admin:index"))
        assert page.status_code == 200
        sections[user.username] = {name for name in ("tasks-now", "throughput", "failure-rate", "stages", "money",
                                                     "lead-times", "blind-spots", "alerts", "backlog")
                                   if f'id="{name}"' in page.content.decode()}  # fmt: skip
    assert sections[operator.username] == {"tasks-now", "throughput", "failure-rate", "stages", "money",
                                           "lead-times", "blind-spots", "alerts"}  # fmt: skip
    assert sections[offer_builder.username] == {"money"}
    assert sections[reviewer.username] == {"tasks-now", "throughput", "failure-rate", "stages", "money", "lead-times",
                                           "blind-spots", "alerts", "backlog"}  # fmt: skip


def test_charts_link_to_the_rows_behind_them(client, operator, finished_work):
    page = login(client, operator).get(reverse("admin:index")).content.decode()
    failed_today = [unescape(href) for href in re.findall(r'<a href="([^"]+)"><title>[^<]*failed', page)]
    assert failed_today and all("status__exact=failed" in href for href in failed_today)
    listing = client.get(failed_today[-1])  # today's bar
    assert listing.status_code == 200
    shown = listing.context["cl"].result_list
    assert shown and {task.status for task in shown} == {"failed"}
    queued = re.search(r'<a class="[^"]*" href="([^"]+)"><span>queued</span><strong>1</strong>', page)
    assert queued and client.get(unescape(queued.group(1))).status_code == 200


def test_the_dashboard_reads_rollups_not_the_task_table(client, reviewer, finished_work):
    login(client, reviewer)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("admin:index")).status_code == 200
    on_tasks = [query["sql"] for query in queries.captured_queries if 'FROM "execution_tasks"' in query["sql"]]
    assert on_tasks, "the waiting statuses are counted"
    # only counts of one status each, capped (the dashboard's at 10,001, the review badge's at 1,000)
    assert all(re.search(r'WHERE "execution_tasks"."status" = \'\w+\' .*LIMIT 10{3}1?\) subquery$', sql)
               for sql in on_tasks), on_tasks
    assert len(queries.captured_queries) < 40


def test_metrics_answer_only_with_the_token_or_from_an_allowed_address(client, settings, finished_work):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    assert client.get("/metrics").status_code == 403  # nothing configured: closed
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    page = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/plain; version=")
    text = page.content.decode()
    labels = 'ai_model="dash-model",outcome="{}",task_type="implement_idea"'
    assert f"opsconsole_task_runs{{{labels.format('failed')}}} 20.0" in text
    assert f"opsconsole_task_runs{{{labels.format('succeeded')}}} 60.0" in text
    assert 'opsconsole_task_duration_seconds_gcount{ai_model="dash-model",task_type="implement_idea"} 80.0' in text
    assert 'opsconsole_tasks{status="queued"} 1.0' in text and 'opsconsole_queue_jobs{queue="default"}' in text
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", ["10.1.2.3"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.4").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_a_finding_is_triaged_in_the_admin_and_each_step_is_audited(client, operator, reviewer):
    TaskType.objects.create(slug="never-rated", executor="echo")
    detectors_run(only=["unrated_task_type"])
    finding = Finding.objects.get(fingerprint="type:never-rated")
    login(client, operator)
    page = client.get(reverse("admin:metrics_finding_change", args=[finding.pk])).content.decode()
    assert reverse("admin:execution_tasktype_change", args=[TaskType.objects.get(slug="never-rated").pk]) in page

    base = f"/admin/metrics/finding/{finding.pk}"
    client.post(f"{base}/acknowledge/")
    client.post(f"{base}/assign/", {"assignee": reviewer.pk})
    past = client.post(f"{base}/mute/", {"until_0": "2020-01-01", "until_1": "00:00"}, follow=True)
    assert "Mute until a time in the future." in past.content.decode()
    later = timezone.now() + timedelta(days=3)
    client.post(f"{base}/mute/", {"until_0": later.strftime("%Y-%m-%d"), "until_1": "12:00"})
    finding.refresh_from_db()
    assert (finding.status, finding.assignee, finding.muted_until.date()) == ("muted", reviewer, later.date())
    empty = client.post(f"{base}/resolve/", {"note": "   "})
    assert empty.status_code == 200 and "This field is required." in empty.content.decode()
    client.post(f"{base}/resolve/", {"note": "rated it low: read-only summaries"})
    finding.refresh_from_db()
    assert (finding.status, finding.resolved_by, finding.resolution_note) == (
        "resolved", operator, "rated it low: read-only summaries"
    )  # fmt: skip
    actions = list(AuditLog.objects.filter(object_type="metrics.finding").order_by("id").values_list("action",
                                                                                                      flat=True))
    assert actions == ["finding.acknowledged", "finding.assigned", "finding.muted", "finding.resolved"]

    # still not rated: the next run sees it again and reopens the same row
    detectors_run(only=["unrated_task_type"])
    finding.refresh_from_db()
    assert (finding.status, finding.occurrences, Finding.objects.count()) == ("open", 2, 1)


def test_counts_by_detector_and_severity_head_the_findings_list(client, operator):
    for slug in ("one", "two"):
        TaskType.objects.create(slug=f"unrated-{slug}", executor="echo")
    detectors_run(only=["unrated_task_type"])
    page = login(client, operator).get(reverse("admin:metrics_finding_changelist")).content.decode()
    counts = page[page.index('id="finding-counts"'):page.index("</table>", page.index('id="finding-counts"'))]
    assert re.search(r"unrated_task_type</a></td>\s*<td[^>]*></td>\s*<td[^>]*><a[^>]*>2</a>", counts)
