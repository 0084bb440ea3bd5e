"""The admin's navigation in the order people work, dj-stripe's models under one short "Stripe" section."""

import pytest
from django.contrib import admin
from django.test import RequestFactory

pytestmark = pytest.mark.django_db


def app_list(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return admin.site.get_app_list(request)


def test_apps_come_in_working_order_with_stripe_trimmed(admin_user, client):
    apps = app_list(admin_user)
    names = [app["name"] for app in apps]
    assert names[:9] == ["Execution", "Safety and review", "Metrics and alerts", "Audit log", "Proposal reports (FSAR)",
                         "Offers", "Experiments", "Income", "Stripe"]  # fmt: skip
    assert names[-1] == "Administration"
    execution = [model["object_name"] for model in apps[0]["models"]]
    assert execution[:2] == ["ExecutionTask", "ExecutionEvent"]
    safety = [model["object_name"] for model in apps[1]["models"]]
    assert safety[0] == "ReviewQueueTask"
    stripe = [model["object_name"] for model in apps[8]["models"]]
    assert "Product" in stripe and "IdempotencyKey" not in stripe and len(stripe) <= 12
    client.force_login(admin_user)
    index = client.get("/admin/").content.decode()
    assert index.index("Execution") < index.index("Stripe") < index.index("Administration")
    assert client.get("/admin/djstripe/").status_code == 200  # the app's own page keeps every model


def test_each_role_sees_only_its_own_apps_in_order(operator, offer_builder, reviewer):
    assert [app["name"] for app in app_list(reviewer)][:5] == ["Execution", "Safety and review", "Metrics and alerts",
                                                               "Audit log", "Proposal reports (FSAR)"]  # fmt: skip
    builder_apps = [app["name"] for app in app_list(offer_builder)][:5]
    assert builder_apps == ["Execution", "Safety and review", "Metrics and alerts", "Offers", "Experiments"]
    builder_metrics = next(app for app in app_list(offer_builder) if app["app_label"] == "metrics")
    assert [model["object_name"] for model in builder_metrics["models"]] == ["Alert"]
    builder_safety = next(app for app in app_list(offer_builder) if app["app_label"] == "safety")
    assert [model["object_name"] for model in builder_safety["models"]] == ["Concern"]  # report one; see their own
    assert "Administration" not in [app["name"] for app in app_list(operator)]
