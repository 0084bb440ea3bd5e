"""One history page per object: versions with diffs, status changes, review decisions and audit rows in order;
and one person's activity across objects."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.execution.services import task_approve, task_create, task_priority_set
from apps.offers.models import OfferTemplate

pytestmark = pytest.mark.django_db


def story_url(obj) -> str:
    return reverse("admin:object_story", args=[obj._meta.app_label, obj._meta.model_name, obj.pk])


def test_a_task_story_shows_status_changes_review_and_field_edits_in_order(ai_model, operator, reviewer, client,
                                                                           django_capture_on_commit_callbacks):
    task = task_create(task_type="self_programming", ai_model=ai_model, created_by=operator, payload={"prompt": "x"})
    task_priority_set(task=task, priority=5)
    with django_capture_on_commit_callbacks(execute=False):
        task_approve(task=task, reviewer=reviewer, comment="ok to run")
    client.force_login(reviewer)
    page = client.get(story_url(task))
    assert page.status_code == 200
    html = page.content.decode()
    rows = re.findall(r'<tr class="story-(\w+)">.*?<td[^>]*>[^<]*</td>\s*<td[^>]*>\w+</td>\s*<td[^>]*>([^<]+)</td>',
                      html, flags=re.S)  # fmt: skip
    titles = [(source, title.strip().lower()) for source, title in rows]
    assert titles.index(("event", "created")) < titles.index(("event", "approved")) < titles.index(
        ("event", "queued"))
    assert ("audit", "task.approved") in titles and ("audit", "task.status") in titles
    versions = [title for source, title in titles if source == "version"]
    assert len(versions) == 2 and versions[0].endswith("created") and versions[1].endswith("changed")
    assert re.search(r"priority</td><td[^>]*>0</td><td[^>]*>5</td>", html)  # the edit, field by field

    history = list(task.history.order_by("history_date"))
    compared = client.get(story_url(task), {"a": history[0].history_id, "b": history[1].history_id})
    comparison = compared.content.decode().split('id="comparison"')[1].split("</table>")[0]
    assert re.search(r"priority</td><td[^>]*>0</td><td[^>]*>5</td>", comparison)

    only_reviewer = client.get(story_url(task), {"actor": reviewer.username}).content.decode()
    assert "approved" in only_reviewer and 'class="story-version"' not in only_reviewer


def test_everything_one_person_did(ai_model, operator, reviewer, client, offer_builder):
    task = task_create(task_type="self_programming", ai_model=ai_model, created_by=operator)
    task_approve(task=task, reviewer=reviewer, comment="fine")
    client.force_login(reviewer)
    today = timezone.localdate()
    page = client.get(reverse("admin:activity"), {"actor": reviewer.username, "since": today - timedelta(days=7),
                                                   "until": today})  # fmt: skip
    html = page.content.decode()
    assert page.status_code == 200 and "task.approved" in html and f"task #{task.pk}" in html
    too_long = client.get(reverse("admin:activity"), {"actor": reviewer.username, "since": "2000-01-01",
                                                       "until": "2100-01-01"})  # fmt: skip
    assert "Look at a year at most at a time." in too_long.content.decode()
    client.force_login(offer_builder)
    assert client.get(reverse("admin:activity")).status_code == 403


def test_offers_have_a_story_too_and_unknown_kinds_do_not(offer, reviewer, client):
    client.force_login(reviewer)
    assert client.get(story_url(offer)).status_code == 200
    other = client.get(f"/admin/safety/reviewqueuetask/story/auth/user/{reviewer.pk}/", follow=True)
    assert other.status_code == 200 and 'id="story"' not in other.content.decode()  # the admin's "no such object"
    assert isinstance(offer, OfferTemplate)


def test_bad_ids_and_other_models_have_no_story(ai_model, reviewer, client):
    client.force_login(reviewer)
    assert client.get("/admin/safety/reviewqueuetask/story/execution/executiontask/abc/").status_code == 404
    control = client.get("/admin/safety/reviewqueuetask/story/execution/executioncontrol/1/", follow=True)
    assert control.status_code == 200 and 'id="story"' not in control.content.decode()
    page = client.get(reverse("admin:execution_aimodel_change", args=[ai_model.pk])).content.decode()
    assert story_url(ai_model) in page  # the Story button, where there is a story
