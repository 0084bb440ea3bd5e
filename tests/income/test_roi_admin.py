import csv
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.income.models import IncomeEvent
from apps.income.services import income_record_manual, income_record_stripe_event
from tests.browser import BROWSER_MARKS, SCREENSHOTS, login
from tests.income.conftest import finished_task, stripe_event

pytestmark = pytest.mark.django_db
DAY = datetime(2026, 11, 10, 9, tzinfo=UTC)
ROI_URL = reverse("admin:income_incomeevent_roi")
PERIOD = {"since": "2026-11-01", "until": "2026-11-15"}

# (model, task type, status, cost) of the tasks, and (model, task type, cents) of the payments for them.
TASKS = [
    ("model-alpha", "implement_idea", "succeeded", "1.250000"),
    ("model-alpha", "implement_idea", "succeeded", "0.750000"),
    ("model-alpha", "implement_idea", "failed", None),
    ("model-alpha", "self_improvement", "succeeded", "3.000000"),
    ("model-beta", "implement_idea", "succeeded", "0.333333"),
    ("model-beta", "self_improvement", "succeeded", "2.000000"),
    ("model-beta", "self_improvement", "failed", None),
    ("model-beta", "self_improvement", "succeeded", "0.010000"),
]
PAYMENTS = [(0, 4900), (1, 4900), (3, 12000), (4, 999), (5, 2500), (5, 2500), (7, 1)]  # (index in TASKS, cents)


@pytest.fixture
def roi_fixture(two_models):
    models = {model.name: model for model in two_models}
    tasks = [
        finished_task(models[name], slug, status=status, cost=cost, finished_at=DAY + timedelta(hours=n))
        for n, (name, slug, status, cost) in enumerate(TASKS)
    ]
    for n, (index, cents) in enumerate(PAYMENTS):
        income_record_stripe_event(event=stripe_event(
            "payment_intent.succeeded", event_id=f"evt_{n}", at=DAY, id=f"pi_{n}", amount_received=cents,
            metadata={"task_id": str(tasks[index].pk)},
        ))  # fmt: skip
    # Outside the period, another currency, and money nobody can attribute:
    finished_task(models["model-alpha"], "implement_idea", cost="100", finished_at=DAY - timedelta(days=30))
    income_record_stripe_event(event=stripe_event("payment_intent.succeeded", event_id="evt_eur", at=DAY,
                                                  id="pi_eur", amount_received=700, currency="eur"))  # fmt: skip
    income_record_stripe_event(event=stripe_event("payment_intent.succeeded", event_id="evt_anon", at=DAY,
                                                  id="pi_anon", amount_received=1234))  # fmt: skip
    return tasks


def expected_rows():
    """The same figures, computed here from the fixture lists, without the console's code."""
    groups = defaultdict(lambda: {"run": 0, "succeeded": 0, "cost": Decimal(0), "income": Decimal(0)})
    for name, slug, status, cost in TASKS:
        group = groups[(name, slug)]
        group["run"] += 1
        group["succeeded"] += status == "succeeded"
        group["cost"] += Decimal(cost or 0)
    for index, cents in PAYMENTS:
        groups[TASKS[index][:2]]["income"] += Decimal(cents) / 100
    return groups


def csv_rows(response) -> dict:
    reader = csv.DictReader(io.StringIO(response.content.decode()))
    return {(row["ai_model"], row["task_type"]): row for row in reader}


def test_roi_figures_match_an_independent_computation(admin_client, roi_fixture):
    response = admin_client.get(ROI_URL, {**PERIOD, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    expected = expected_rows()
    for (name, slug), want in expected.items():
        got = rows[(name, slug)]
        assert int(got["tasks_run"]) == want["run"]
        assert int(got["tasks_succeeded"]) == want["succeeded"]
        assert Decimal(got["ai_cost"]) == want["cost"]
        assert Decimal(got["income"]) == want["income"]
        assert Decimal(got["net"]) == want["income"] - want["cost"]
        assert Decimal(got["roi"]) == ((want["income"] - want["cost"]) / want["cost"]).quantize(Decimal("0.0001"))
        assert Decimal(got["income_per_succeeded_task"]) == (want["income"] / want["succeeded"]).quantize(
            Decimal("0.01")
        )  # fmt: skip
    assert Decimal(rows[("(unattributed)", "")]["income"]) == Decimal("12.34")
    total = rows[("(total)", "")]
    assert Decimal(total["income"]) == sum(g["income"] for g in expected.values()) + Decimal("12.34")
    assert Decimal(total["ai_cost"]) == sum(g["cost"] for g in expected.values())
    # ... and to the cent, the sum of the ledger's rows in that currency and period:
    in_period = IncomeEvent.objects.in_period(DAY - timedelta(days=9), DAY + timedelta(days=6)).filter(currency="usd")
    assert Decimal(total["income"]) == in_period.total()
    assert int(total["cost_unknown_tasks"]) == 2


def test_roi_page_shows_table_chart_and_other_currencies(admin_client, roi_fixture):
    response = admin_client.get(ROI_URL, PERIOD)
    assert response.status_code == 200
    page = response.content.decode()
    report = response.context["report"]
    assert [(row.ai_model, row.task_type) for row in report.rows] == sorted(expected_rows())
    assert 'data-type="bar"' in page and "Income (USD)" in page
    assert "Unattributed income" in page
    assert "7.00 EUR" in page  # not converted, shown apart
    assert "2 finished task(s) have no known cost" in page


def test_sub_cent_costs_and_no_income_read_consistently(admin_client, ai_model):
    """A cost that rounds to 0.00 next to a ROI computed on it, or ROI -1 next to a net of 0.00, contradict
    each other on the page: costs and net are shown to 4 decimals, ROI as a percentage of cost."""
    finished_task(ai_model, "implement_idea", cost="0.000400", finished_at=timezone.now())
    today = timezone.now().date().isoformat()
    page = admin_client.get(ROI_URL, {"since": today, "until": today}).content.decode()
    row = page[page.index('id="roi-table"') :]
    assert "0.0004" in row and "-0.0004" in row and "-100.0 %" in row
    assert "-1.0000" not in row


def test_bad_period_says_what_is_wrong(admin_client):
    response = admin_client.get(ROI_URL, {"since": "2026-11-15", "until": "2026-11-01"})
    assert "must be on or before" in response.content.decode()
    response = admin_client.get(ROI_URL, {"since": "yesterday", "until": "2026-11-01"})
    assert "Enter a valid date." in response.content.decode()


def test_model_names_cannot_become_spreadsheet_formulas(admin_client):
    from tests.execution.factories import AIModelFactory

    finished_task(AIModelFactory(name="=HYPERLINK(evil)"), "implement_idea", finished_at=DAY)
    rows = csv_rows(admin_client.get(ROI_URL, {**PERIOD, "format": "csv"}))
    assert ("'=HYPERLINK(evil)", "implement_idea") in rows


class TestPermissions:
    def test_roles(self, client, operator, offer_builder, reviewer, django_user_model):
        outsider = django_user_model.objects.create_user("staff-only", password="x", is_staff=True)
        for user, can_read, can_add in [(operator, True, True), (offer_builder, True, True),
                                        (reviewer, True, False), (outsider, False, False)]:  # fmt: skip
            client.force_login(user)
            assert (client.get(ROI_URL, PERIOD).status_code == 200) is can_read, user
            add = client.get(reverse("admin:income_incomeevent_add"))
            assert (add.status_code == 200) is can_add, user

    def test_a_ledger_rows_page_opens_for_every_role_that_reads_the_ledger(self, client, operator, offer_builder,
                                                                           reviewer, admin_user):  # fmt: skip
        manual = income_record_manual(amount=Decimal("5"), currency="usd", occurred_at=DAY, reason="cash <b>",
                                      actor=operator)  # fmt: skip
        income_record_stripe_event(event=stripe_event("payment_intent.succeeded", amount_received=4900))
        for user in (admin_user, operator, offer_builder, reviewer):
            client.force_login(user)
            for row in IncomeEvent.objects.all():
                page = client.get(reverse("admin:income_incomeevent_change", args=[row.pk]))
                assert page.status_code == 200, (user, row.kind)
                history = client.get(reverse("admin:income_incomeevent_history", args=[row.pk]))
                assert history.status_code == 200, (user, row.kind)
            assert "cash &lt;b&gt;" in client.get(reverse("admin:income_incomeevent_change", args=[manual.pk])).text

    def test_ledger_rows_cannot_be_changed_or_deleted(self, admin_client, operator):
        row = income_record_manual(amount=Decimal("5"), currency="usd", occurred_at=DAY, reason="cash",
                                   actor=operator)  # fmt: skip
        change = admin_client.post(reverse("admin:income_incomeevent_change", args=[row.pk]),
                                   {"amount": "500", "reason": "edited"})  # fmt: skip
        assert change.status_code == 403
        assert admin_client.post(reverse("admin:income_incomeevent_delete", args=[row.pk])).status_code == 403
        row.refresh_from_db()
        assert row.amount == Decimal("5")


class TestManualEntryForm:
    URL = reverse("admin:income_incomeevent_add")

    def form(self, **overrides):
        return {"amount": "250.00", "currency": "usd", "occurred_at_0": "2026-11-10", "occurred_at_1": "10:00:00",
                "reason": "bank transfer, invoice 2026-114", **overrides}  # fmt: skip

    def test_offer_builder_adds_an_entry(self, client, offer_builder):
        client.force_login(offer_builder)
        form_page = client.get(self.URL).content.decode()
        assert reverse("admin:execution_executiontask_changelist") not in form_page  # a lookup that would be a 403
        response = client.post(self.URL, self.form())
        assert response.status_code == 302, response.context["adminform"].form.errors
        row = IncomeEvent.objects.get()
        assert (row.kind, row.amount, row.created_by) == ("manual", Decimal("250.00"), offer_builder)

    @pytest.mark.parametrize(("field", "value", "message"), [
        ("reason", "", "This field is required."),
        ("amount", "0", "non-zero amount"),
        ("amount", "1.234", "at most 2 decimals"),
        ("currency", "xxx", "Select a valid choice"),
    ])  # fmt: skip
    def test_bad_entries_are_refused_field_by_field(self, client, operator, field, value, message):
        client.force_login(operator)
        response = client.post(self.URL, self.form(**{field: value}))
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert message in " ".join(errors.get(field, [])), errors
        assert IncomeEvent.objects.count() == 0


def test_every_problem_of_a_manual_entry_is_named_at_once(client, operator):
    client.force_login(operator)
    response = client.post(reverse("admin:income_incomeevent_add"), {**TestManualEntryForm().form(), "amount": "0",
                                                                      "reason": ""})  # fmt: skip
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"amount", "reason"}
    assert IncomeEvent.objects.count() == 0


def test_ledger_list_shows_amounts_in_currency_decimals(admin_client):
    income_record_stripe_event(event=stripe_event("payment_intent.succeeded", amount_received=4900))
    income_record_stripe_event(event=stripe_event("payment_intent.succeeded", event_id="evt_jpy", id="pi_jpy",
                                                  amount_received=5000, currency="jpy"))  # fmt: skip
    page = admin_client.get(reverse("admin:income_incomeevent_changelist")).content.decode()
    assert "49.00 USD" in page and "5000 JPY" in page


@pytest.mark.usefixtures("roi_fixture")
@BROWSER_MARKS[0]
@BROWSER_MARKS[1]
def test_roi_page_in_a_browser(live_server, operator, browser_page):
    from playwright.sync_api import expect

    page = browser_page
    login(page, live_server.url, operator)
    page.goto(f"{live_server.url}/admin/income/incomeevent/")
    page.get_by_role("link", name="ROI by model and task type").click()
    page.fill("input[name=since]", PERIOD["since"])
    page.fill("input[name=until]", PERIOD["until"])
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#roi-table")).to_contain_text("model-alpha")
    expect(page.locator("#roi-table tfoot")).to_contain_text("Total")
    expect(page.locator("canvas.chart")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "income-roi.png", full_page=True)


def test_amounts_read_in_each_currency_s_own_decimals_and_costs_keep_theirs(admin_client, ai_model, settings):
    """JPY has no decimals (818,401, not 818401.00), USD two (49.50, not the ledger's 49.500), and an AI cost of
    0.002835 stays 0.002835 on the page and in the CSV so that the ROI next to it can be recomputed."""
    today = timezone.now()
    finished_task(ai_model, "implement_idea", cost="0.002835", finished_at=today)
    period = {"since": today.date().isoformat(), "until": today.date().isoformat()}
    for code, minor_units, page_text, csv_text in (("usd", 4950, "49.50", "49.50"),
                                                   ("jpy", 818401, "818,401", "818401")):  # fmt: skip
        settings.INCOME_CURRENCY = code
        income_record_stripe_event(event=stripe_event(
            "payment_intent.succeeded", event_id=f"evt_{code}", at=today, id=f"pi_{code}", currency=code,
            amount_received=minor_units, metadata={"task_id": str(ai_model.tasks.get().pk)},
        ))  # fmt: skip
        page = admin_client.get(ROI_URL, period).content.decode()
        table = page[page.index('id="roi-table"') :]
        assert page_text in table and f"{page_text}.00" not in table and f"{page_text}0" not in table
        assert "0.002835" in table
        total = csv_rows(admin_client.get(ROI_URL, {**period, "format": "csv"}))[("(total)", "")]
        assert (total["income"], total["ai_cost"]) == (csv_text, "0.002835")
