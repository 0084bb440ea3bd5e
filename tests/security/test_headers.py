"""What leaves the console in headers and stored rows: a Content-Security-Policy, report images as links, webhook
rows without credentials, the API schema only for signed-in users."""

import json
from importlib import import_module

import pytest
from django.apps import apps as django_apps
from djstripe.models import WebhookEventTrigger

from apps.proposals.rendering import markdown_to_safe_html
from tests.income.conftest import WEBHOOK_SECRET, WEBHOOK_URL, stripe_event, stripe_signature

pytestmark = pytest.mark.django_db


def test_admin_pages_carry_a_content_security_policy(client, operator):
    client.force_login(operator)
    policy = client.get("/admin/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"  # no remote images: nothing in a report can phone home
    assert directives["connect-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'" and directives["form-action"] == "'self'"


def test_images_in_report_markdown_become_links_and_are_never_loaded():
    html = markdown_to_safe_html('See ![pixel "x" <b>](https://tracker.example/p.gif?r=1&u=2) here.')
    assert html == (
        '<p>See <a href="https://tracker.example/p.gif?r=1&amp;u=2" rel="noopener noreferrer nofollow">'
        '[image: pixel "x" &lt;b&gt;]</a> here.</p>\n'
    )
    assert "<img" not in markdown_to_safe_html('<img src="https://tracker.example/p.gif">')  # raw HTML is text


def test_a_stored_webhook_keeps_only_the_headers_needed_to_verify_and_debug(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    body = json.dumps(stripe_event("payment_intent.succeeded"))
    response = client.post(
        WEBHOOK_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=stripe_signature(body),
        HTTP_AUTHORIZATION="Bearer sk_live_should_not_be_kept", HTTP_COOKIE="sessionid=abc",
        HTTP_USER_AGENT="Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    )  # fmt: skip
    assert response.status_code == 200
    headers = WebhookEventTrigger.objects.get().headers
    assert set(headers) == {"Stripe-Signature", "Content-Type", "User-Agent"}
    assert "sk_live" not in json.dumps(headers) and "sessionid" not in json.dumps(headers)


def test_the_api_schema_needs_a_login(client, operator):
    assert client.get("/api/schema/").status_code in (401, 403)
    client.force_login(operator)
    response = client.get("/api/schema/")
    assert response.status_code == 200 and b"/api/ai-models/" in response.content


def test_the_migration_scrubs_headers_stored_before_it():
    stored = WebhookEventTrigger.objects.create(
        remote_ip="127.0.0.1", body="{}", valid=True,
        headers={"Stripe-Signature": "t=1,v1=x", "Authorization": "Bearer sk_live_x", "Cookie": "sessionid=abc"},
    )  # fmt: skip
    import_module("apps.income.migrations.0003_webhook_headers_scrubbed").headers_scrub(django_apps, None)
    stored.refresh_from_db()
    assert stored.headers == {"Stripe-Signature": "t=1,v1=x"}
