"""Every admin URL and action and every API endpoint, GET and POST, for every role, a staff user in no group, a
signed-in user who is not staff, and nobody, against the table of what each may do. A 5xx anywhere fails; so does
a page or action that answers someone the table refuses (a leak), or refuses someone it allows.

GETs show pages; POSTs carry no data (or one selected row for a bulk action), so an allowed write re-renders its
form with errors and a refused one answers 403 or the login page: access is measured without changing anything.
"""

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from djstripe.models import WebhookEventTrigger

from apps.auditlog.models import AuditLog
from apps.core import roles
from apps.execution.models import BulkOperation, ModelRollout
from apps.execution.services import execution_pause, task_create
from apps.experiments.models import PriceExperiment
from apps.income.models import ReconciliationRun, StrandedWebhook
from apps.income.services import income_record_manual
from apps.metrics.models import Alert, AlertRule, Finding, LeadTime
from apps.offers.models import OfferTemplate
from apps.proposals.services import proposal_ingest
from apps.safety.models import AuditRun, ReviewQueueTask, RiskRescore, RiskRule, SafetyAudit
from apps.safety.services import concern_report
from tests.conftest import ROOT
from tests.execution.factories import AIModelFactory, TaskTypeFactory, UserFactory
from tests.proposals.reports import report

pytestmark = pytest.mark.django_db

SU, OP, OB, RV = "superuser", "operator", "offer builder", "reviewer"
STAFF, USER, ANON = "staff in no group", "non-staff user", "anonymous"
EVERYONE = (SU, OP, OB, RV, STAFF, USER, ANON)
NOBODY: set[str] = set()

# (model, capability) -> who may. Capabilities: view (list, object page, its log, an empty POST to the list),
# history (a past version's page), add, change (POST to the object's form), delete (its confirmation page),
# revert (POST to a past version), bulk:<action> (list action on a selected row), and each button by name.
ACCESS: dict[tuple[str, str], set[str]] = {
    ("execution.aimodel", "view"): {SU, OP, OB, RV},
    ("execution.aimodel", "history"): {SU, OP, OB, RV},
    ("execution.aimodel", "add"): {SU, OP},
    ("execution.aimodel", "change"): {SU, OP},
    ("execution.aimodel", "delete"): {SU},
    ("execution.aimodel", "bulk:delete_selected"): {SU},
    ("execution.aimodel", "approve_endpoint"): {SU, RV},
    ("execution.tasktype", "view"): {SU, OP, OB, RV},
    ("execution.tasktype", "history"): {SU, OP, OB, RV},
    ("execution.tasktype", "add"): {SU},
    ("execution.tasktype", "change"): {SU},
    ("execution.tasktype", "delete"): {SU},
    ("execution.tasktype", "bulk:delete_selected"): {SU},
    ("execution.executiontask", "view"): {SU, OP, RV},
    ("execution.executiontask", "history"): {SU, OP, RV},
    ("execution.executiontask", "add"): {SU, OP},
    ("execution.executiontask", "change"): NOBODY,  # read-only page; changes are the buttons below
    ("execution.executiontask", "delete"): NOBODY,
    ("execution.executiontask", "bulk:enqueue_selected"): {SU, OP},
    ("execution.executiontask", "bulk:retry_failed"): {SU, OP},
    ("execution.executiontask", "bulk:cancel_selected"): {SU, OP},
    ("execution.executiontask", "bulk:approve_selected"): {SU, RV},
    ("execution.executiontask", "bulk:reject_selected"): {SU, RV},
    ("execution.executiontask", "queue_statistics"): {SU, OP},
    ("execution.executiontask", "live"): {SU, OP, RV},  # the list's live statuses and counts (JSON)
    ("execution.executiontask", "live_task"): {SU, OP, RV},
    ("execution.executiontask", "enqueue_task"): {SU, OP},
    ("execution.executiontask", "retry_task"): {SU, OP},
    ("execution.executiontask", "cancel_task"): {SU, OP},
    ("execution.executiontask", "set_priority"): {SU, OP},
    ("execution.executiontask", "approve_task"): {SU, RV},
    ("execution.executiontask", "reject_task"): {SU, RV},
    ("execution.executionevent", "view"): {SU, OP, RV},
    ("execution.executionevent", "add"): NOBODY,
    ("execution.executionevent", "change"): NOBODY,
    ("execution.executionevent", "delete"): NOBODY,
    ("execution.bulkoperation", "view"): {SU, OP, RV},
    ("execution.bulkoperation", "add"): NOBODY,
    ("execution.bulkoperation", "change"): NOBODY,
    ("execution.bulkoperation", "delete"): NOBODY,
    ("execution.executioncontrol", "view"): {SU, OP, RV},
    ("execution.executioncontrol", "list_post"): {SU, OP},  # the switch itself
    ("execution.executioncontrol", "history"): {SU, OP, RV},
    ("execution.executioncontrol", "add"): NOBODY,
    ("execution.executioncontrol", "change"): {SU, OP, RV},  # redirected to the switch page, never saved
    ("execution.executioncontrol", "delete"): NOBODY,
    ("proposals.proposal", "view"): {SU, OP, RV},
    ("proposals.proposal", "history"): {SU, OP, RV},
    ("proposals.proposal", "add"): NOBODY,
    ("proposals.proposal", "change"): NOBODY,
    ("proposals.proposal", "delete"): {SU},
    ("proposals.proposal", "bulk:delete_selected"): {SU},
    ("proposals.proposal", "upload_reports"): {SU, OP},
    ("proposals.proposal", "create_tasks"): {SU, OP},
    ("proposals.proposal", "acknowledge"): {SU, RV},
    ("proposals.proposal", "accept"): {SU, RV},
    ("proposals.proposal", "reject"): {SU, RV},
    ("proposals.proposal", "mark_implemented"): {SU, RV},
    ("offers.offertemplate", "view"): {SU, OP, OB, RV},
    ("offers.offertemplate", "history"): {SU, OP, OB, RV},
    ("offers.offertemplate", "add"): {SU, OB},
    ("offers.offertemplate", "change"): {SU, OB},
    ("offers.offertemplate", "delete"): {SU},
    ("offers.offertemplate", "bulk:delete_selected"): {SU},
    ("offers.offertemplate", "bulk:publish_selected"): {SU, OB},
    ("offers.offertemplate", "publish"): {SU, OB},
    ("income.incomeevent", "view"): {SU, OP, OB, RV},
    ("income.incomeevent", "history"): {SU, OP, OB, RV},
    ("income.incomeevent", "add"): {SU, OP, OB},
    ("income.incomeevent", "change"): NOBODY,
    ("income.incomeevent", "delete"): NOBODY,
    ("income.incomeevent", "roi"): {SU, OP, OB, RV},
    ("income.strandedwebhook", "view"): {SU, OP},
    ("income.strandedwebhook", "add"): NOBODY,
    ("income.strandedwebhook", "change"): {SU, OP},
    ("income.strandedwebhook", "delete"): NOBODY,
    ("income.strandedwebhook", "bulk:retry_now"): {SU, OP},
    ("income.reconciliationrun", "view"): {SU, OP, OB, RV},
    ("income.reconciliationrun", "add"): NOBODY,
    ("income.reconciliationrun", "change"): NOBODY,
    ("income.reconciliationrun", "delete"): NOBODY,
    ("income.reconciliationrun", "reconcile_yesterday"): {SU, OP, OB},
    ("execution.tasktype", "rate_risk"): {SU, RV},
    ("execution.tasktype", "report_concern"): {SU, OP, OB, RV},
    ("execution.executiontask", "report_concern"): {SU, OP, RV},
    ("safety.reviewqueuetask", "view"): {SU, RV},
    ("safety.reviewqueuetask", "add"): NOBODY,
    ("safety.reviewqueuetask", "change"): NOBODY,
    ("safety.reviewqueuetask", "delete"): NOBODY,
    ("safety.reviewqueuetask", "history"): {SU, RV},
    ("safety.reviewqueuetask", "bulk:claim_selected"): {SU, RV},
    ("safety.reviewqueuetask", "bulk:assign_selected"): {SU, RV},
    ("safety.reviewqueuetask", "bulk:approve_selected"): {SU, RV},
    ("safety.reviewqueuetask", "bulk:reject_selected"): {SU, RV},
    ("safety.reviewqueuetask", "activity"): {SU, RV},  # everything one person did (reads the audit log)
    ("safety.concern", "view"): {SU, OP, OB, RV},
    ("safety.concern", "history"): {SU, OP, OB, RV},
    ("safety.concern", "add"): {SU, OP, OB, RV},
    ("safety.concern", "change"): NOBODY,  # a record: reviewers resolve it
    ("safety.concern", "delete"): NOBODY,
    ("safety.concern", "resolve"): {SU, RV},
    ("safety.riskrule", "view"): {SU, OP, RV},
    ("safety.riskrule", "history"): {SU, OP, RV},
    ("safety.riskrule", "add"): NOBODY,
    ("safety.riskrule", "change"): {SU, RV},
    ("safety.riskrule", "delete"): NOBODY,
    ("safety.riskrescore", "view"): {SU, OP, RV},
    ("safety.riskrescore", "add"): NOBODY,
    ("safety.riskrescore", "change"): NOBODY,
    ("safety.riskrescore", "delete"): NOBODY,
    ("safety.riskrescore", "rescore_now"): {SU, RV},
    ("safety.safetyaudit", "view"): {SU, OP, RV},
    ("safety.safetyaudit", "history"): {SU, OP, RV},
    ("safety.safetyaudit", "add"): {SU, RV},
    ("safety.safetyaudit", "change"): {SU, RV},
    ("safety.safetyaudit", "delete"): NOBODY,
    ("safety.safetyaudit", "run_now"): {SU, RV},
    ("safety.auditrun", "view"): {SU, OP, RV},
    ("safety.auditrun", "add"): NOBODY,
    ("safety.auditrun", "change"): NOBODY,
    ("safety.auditrun", "delete"): NOBODY,
    ("safety.auditrun", "acknowledge"): {SU, RV},
    ("auditlog.auditlog", "view"): {SU, RV},
    ("auditlog.auditlog", "add"): NOBODY,
    ("auditlog.auditlog", "change"): NOBODY,
    ("auditlog.auditlog", "delete"): NOBODY,
    ("auditlog.auditlog", "export"): {SU, RV},
    ("metrics.finding", "view"): {SU, OP, RV},
    ("metrics.finding", "add"): NOBODY,  # detectors write them
    ("metrics.finding", "change"): NOBODY,  # triaged through its actions
    ("metrics.finding", "delete"): NOBODY,
    ("metrics.finding", "acknowledge"): {SU, OP, RV},
    ("metrics.finding", "assign"): {SU, OP, RV},
    ("metrics.finding", "mute"): {SU, OP, RV},
    ("metrics.finding", "resolve"): {SU, OP, RV},
    ("metrics.alert", "view"): {SU, OP, OB, RV},
    ("metrics.alert", "add"): NOBODY,
    ("metrics.alert", "change"): NOBODY,
    ("metrics.alert", "delete"): NOBODY,
    ("metrics.alertrule", "view"): {SU, OP, RV},
    ("metrics.alertrule", "add"): {SU, OP},
    ("metrics.alertrule", "change"): {SU, OP},
    ("metrics.alertrule", "delete"): {SU},
    ("metrics.alertrule", "bulk:delete_selected"): {SU},
    ("metrics.leadtime", "view"): {SU, OP, RV},
    ("metrics.leadtime", "add"): NOBODY,
    ("metrics.leadtime", "change"): NOBODY,
    ("metrics.leadtime", "delete"): NOBODY,
    ("metrics.leadtime", "slowest"): {SU, OP, RV},
    ("execution.modelrollout", "view"): {SU, OP, RV},
    ("execution.modelrollout", "history"): {SU, OP, RV},
    ("execution.modelrollout", "add"): {SU, OP},
    ("execution.modelrollout", "change"): NOBODY,  # decided through its buttons
    ("execution.modelrollout", "delete"): NOBODY,
    ("execution.modelrollout", "step"): {SU, OP},
    ("execution.modelrollout", "hold"): {SU, OP},
    ("execution.modelrollout", "resume"): {SU, OP},
    ("execution.modelrollout", "promote"): {SU, OP},
    ("execution.modelrollout", "rollback"): {SU, OP},
    ("experiments.priceexperiment", "view"): {SU, OP, OB, RV},
    ("experiments.priceexperiment", "history"): {SU, OP, OB, RV},
    ("experiments.priceexperiment", "add"): {SU, OB},
    ("experiments.priceexperiment", "change"): NOBODY,
    ("experiments.priceexperiment", "delete"): NOBODY,
    ("experiments.priceexperiment", "start"): {SU, OB},
    ("experiments.priceexperiment", "promote"): {SU, OB},
    ("experiments.priceexperiment", "rollback"): {SU, OB},
}
OUR_APPS = {"execution", "proposals", "offers", "income", "safety", "auditlog", "metrics", "experiments"}
# Other apps' admin pages (dj-stripe, auth, tokens, lockouts): roles see only these; the superuser is not judged
# there, beyond never getting a 5xx.
THIRD_PARTY_VIEW = {"djstripe.product": {OP, OB}, "djstripe.price": {OP, OB}, "djstripe.webhookeventtrigger": {OP}}

API = [  # method, URL name (args), who may
    ("GET", "api-root", (), {SU, OP, OB, RV, STAFF, USER}),
    ("GET", "api-schema", (), {SU, OP, OB, RV, STAFF, USER}),
    ("GET", "task-list", (), {SU, OP, RV}),
    ("POST", "task-list", (), {SU, OP}),
    ("GET", "task-detail", ("task",), {SU, OP, RV}),
    ("GET", "ai-model-list", (), {SU, OP, OB, RV}),
    ("POST", "ai-model-list", (), {SU, OP}),
    ("GET", "ai-model-detail", ("ai_model",), {SU, OP, OB, RV}),
    ("GET", "proposal-list", (), {SU, OP, RV}),
    ("POST", "proposal-list", (), {SU, OP}),
    ("GET", "proposal-detail", ("proposal",), {SU, OP, RV}),
    ("GET", "concern-list", (), {SU, OP, OB, RV}),
    ("POST", "concern-list", (), {SU, OP, OB, RV}),
    ("POST", "experiment-assign", ("experiment",), {SU, OB}),
]
QUEUE_PAGES = [  # django-rq's pages: operators (and superusers) only; its own admin entry is not mounted at all
    "/admin/rq/", "/admin/rq/stats.json", "/admin/rq/queues/0/", "/admin/rq/queues/0/finished/",
    "/admin/rq/queues/0/failed/", "/admin/rq/queues/0/scheduled/", "/admin/rq/queues/0/started/",
    "/admin/rq/queues/0/deferred/", "/admin/rq/queues/0/details/", "/admin/rq/workers/0/",
    "/admin/rq/queues/0/empty/", "/admin/rq/queues/0/requeue-all/", "/admin/rq/queues/0/failed/clear/",
    "/admin/rq/queues/confirm-action/0/", "/admin/rq/queues/actions/0/", "/admin/rq/queues/0/no-such-job/delete/",
    "/admin/rq/schedulers/0/", "/admin/rq/metrics/",
]  # fmt: skip
GET_CAPABILITY = {"changelist": "view", "change": "view", "history": "view", "simple_history": "history"}
POST_CAPABILITY = {"changelist": "list_post", "history": "view", "simple_history": "revert"}
NOT_MOUNTED = ["/admin/django_rq/dashboard/", "/admin/django_rq/dashboard/queues/0/empty/",
               "/admin/django_rq/dashboard/stats.json"]  # fmt: skip


@pytest.fixture
def users():
    def in_group(name, username):
        user = UserFactory(username=username, is_staff=True)
        user.groups.add(Group.objects.get(name=name))
        return user

    return {
        SU: UserFactory(username="sam-super", is_staff=True, is_superuser=True),
        OP: in_group(roles.OPERATORS, "olga-operator"),
        OB: in_group(roles.OFFER_BUILDERS, "otto-offers"),
        RV: in_group(roles.REVIEWERS, "rita-reviewer"),
        STAFF: UserFactory(username="stan-staff", is_staff=True),
        USER: UserFactory(username="una-user"),
    }


@pytest.fixture
def clients(users):
    signed_in = {}
    for who, user in users.items():
        signed_in[who] = Client()
        signed_in[who].force_login(user)
    return {**signed_in, ANON: Client()}


@pytest.fixture
def samples():
    """One row of each kind the admin shows, each with history, so that every object URL has something."""
    ai_model = AIModelFactory(name="matrix-model")
    TaskTypeFactory(slug="matrix_type")
    task = task_create(task_type="implement_idea", ai_model=ai_model, payload={"prompt": "x"})
    offer = OfferTemplate.objects.create(
        name="Code review", slug="code-review", task_type=task.task_type, ai_model=ai_model, price="49.00",
        currency="usd",
    )  # fmt: skip
    income = income_record_manual(
        amount=Decimal("10.00"), currency="usd", occurred_at=datetime(2026, 11, 1, tzinfo=UTC), reason="invoice 7",
        actor=None, task=task,
    )  # fmt: skip
    rows = {
        "execution.aimodel": ai_model, "execution.executiontask": task, "execution.executionevent": task.events.first(),
        "execution.bulkoperation": BulkOperation.objects.create(action="enqueue", task_ids=[task.pk], total=1),
        "execution.executioncontrol": execution_pause(actor=None, reason="matrix"), "offers.offertemplate": offer,
        "proposals.proposal": proposal_ingest(data=report(), source="matrix").proposal, "income.incomeevent": income,
        "djstripe.webhookeventtrigger": WebhookEventTrigger.objects.create(
            remote_ip="127.0.0.1", headers={}, body="{}", valid=True
        ),
    }  # fmt: skip
    rows["execution.tasktype"] = task.task_type
    rows["income.strandedwebhook"] = StrandedWebhook.objects.create(
        trigger=rows["djstripe.webhookeventtrigger"], next_attempt_at=datetime(2026, 11, 1, tzinfo=UTC)
    )
    run = ReconciliationRun.objects.create(day=date(2026, 11, 1), outcome="differences")
    run.differences.create(kind="fee", balance_transaction_id="txn_1", ledger_row=income, currency="usd")
    rows["income.reconciliationrun"] = run
    waiting = task_create(task_type="self_programming", ai_model=ai_model, payload={"prompt": "y"})
    rows["safety.reviewqueuetask"] = ReviewQueueTask.objects.get(pk=waiting.pk)
    rows["safety.concern"] = concern_report(reporter=None, task_type=task.task_type, category="quality",
                                            severity="low", text="matrix")  # fmt: skip
    rows["safety.riskrule"] = RiskRule.objects.order_by("pk").first()
    rows["safety.riskrescore"] = RiskRescore.objects.order_by("pk").first()
    audit = SafetyAudit.objects.get(check_name="running_past_timeout")
    rows["safety.safetyaudit"] = audit
    rows["safety.auditrun"] = AuditRun.objects.create(audit=audit, passed=False, figures={"overdue": 1})
    rows["auditlog.auditlog"] = AuditLog.objects.order_by("pk").first()
    now = timezone.now()
    rows["metrics.finding"] = Finding.objects.create(
        detector="unrated_task_type", fingerprint="type:x", title="x: never rated", first_seen=now, last_seen=now,
        links=[["task type", reverse("admin:execution_tasktype_change", args=[task.task_type_id]),
                "execution.view_tasktype"]],
    )  # fmt: skip
    rows["metrics.alertrule"] = AlertRule.objects.order_by("pk").first()
    rows["metrics.alert"] = Alert.objects.create(rule=rows["metrics.alertrule"], ai_model=ai_model.name,
                                                 task_type=task.task_type, value=0.4, limit=0.1, opened_at=now,
                                                 last_seen=now)  # fmt: skip
    rows["metrics.leadtime"] = LeadTime.objects.create(category="cost", month=date(2026, 11, 1), stage="accepted",
                                                       proposals=3, median_seconds=3600, p90_seconds=7200)  # fmt: skip
    rows["execution.modelrollout"] = ModelRollout.objects.create(
        task_type=task.task_type, champion=ai_model, candidate=AIModelFactory(name="matrix-candidate"),
        candidate_percent=5, steps=[5, 25], salt="matrix",
    )  # fmt: skip
    rows["experiments.priceexperiment"] = PriceExperiment.objects.create(key="matrix-price", offer=offer,
                                                                         horizon_per_variant=100, salt="matrix")
    return rows


def url_args(pattern, sample) -> list[str] | None:
    """The arguments of an admin URL for `sample` (its pk, its first history row), or None if it has none."""
    regex = pattern.pattern.regex
    keys = list(regex.groupindex) or ["object_id", "version_id"][: regex.groups]  # simple_history's are unnamed
    if not keys:
        return []
    if sample is None or not set(keys) <= {"object_id", "version_id"}:
        return None
    version = sample.history.order_by("history_id").first() if "version_id" in keys else None
    if "version_id" in keys and version is None:
        return None
    return [str(sample.pk if key == "object_id" else version.history_id) for key in keys]


def admin_requests(samples, superuser):
    """(model, method, url, data, capability) for every named URL of every registered model admin, and every
    list action the superuser sees."""
    as_superuser = RequestFactory().get("/admin/")
    as_superuser.user = superuser
    requests = []
    for model, model_admin in admin.site._registry.items():
        label, sample = model._meta.label_lower, samples.get(model._meta.label_lower)
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        for pattern in model_admin.urls:
            name = getattr(pattern, "name", None)
            args = url_args(pattern, sample) if name else None
            if args is None:
                continue
            url = reverse(f"admin:{name}", args=args)
            suffix = name.removeprefix(prefix)
            get_capability = GET_CAPABILITY.get(suffix, suffix)
            post_capability = POST_CAPABILITY.get(suffix, suffix)
            requests += [(label, "GET", url, None, get_capability), (label, "POST", url, {}, post_capability)]
        if sample is not None:
            changelist = reverse(f"admin:{prefix}changelist")
            for action_name in model_admin.get_actions(as_superuser):
                data = {"action": action_name, "_selected_action": [str(sample.pk)], "index": "0"}
                requests.append((label, "POST", changelist, data, f"bulk:{action_name}"))
    return requests


def expected(label: str, capability: str) -> set[str] | None:
    """Who may; None where the table does not judge (the superuser on other apps' pages)."""
    app = label.split(".")[0]
    if app in OUR_APPS:
        if capability == "list_post" and (label, capability) not in ACCESS:
            capability = "view"
        if capability == "revert":
            return NOBODY
        return ACCESS[(label, capability)]  # a KeyError here: a new URL the table does not cover yet
    viewers = THIRD_PARTY_VIEW.get(label, set()) if capability in ("view", "list_post") else set()
    return viewers | {SU}


def outcome(response, *, bulk_action: bool = False) -> str:
    status = response.status_code
    assert status < 500, f"{status} from {response.request['REQUEST_METHOD']} {response.request['PATH_INFO']}"
    if status in (401, 403, 404, 405):
        return "refused"
    if status in (301, 302) and "/login/" in response["Location"]:
        return "refused"
    if bulk_action:  # Django ignores an action the user may not take: it shows the list, or says so
        said = [str(message) for message in response.wsgi_request._messages._queued_messages]  # this request's
        asks_to_confirm = any("delete_selected_confirmation" in (t.name or "") or t.name == "admin/form_page.html"
                              for t in response.templates)  # fmt: skip
        if any("No action selected" in message for message in said) or (status == 200 and not asks_to_confirm):
            return "refused"
    return "allowed"


def mismatches(results) -> list[str]:
    return [f"{who}: {method} {url} [{capability}] expected {want}, got {got}"
            for who, method, url, capability, want, got in results if want != got]  # fmt: skip


def test_every_admin_url_and_action_answers_each_role_as_the_table_says(clients, users, samples):
    results, judged = [], defaultdict(int)
    for label, method, url, data, capability in admin_requests(samples, users[SU]):
        allowed = expected(label, capability)
        for who, client in clients.items():
            response = client.get(url) if method == "GET" else client.post(url, data)
            got = outcome(response, bulk_action=capability.startswith("bulk:"))
            if who == SU and label.split(".")[0] not in OUR_APPS:
                continue  # only "no 5xx", checked by outcome()
            want = "allowed" if who in allowed else "refused"
            results.append((who, method, url, capability, want, got))
            judged[who] += 1
    assert not mismatches(results), "\n".join(mismatches(results))
    # every admin page was tried for every kind of user (the superuser is judged on this console's own pages)
    assert all(count > (100 if who == SU else 300) for who, count in judged.items()) and len(judged) == 7, judged


def test_every_api_endpoint_answers_each_role_as_the_table_says(clients, samples):
    targets = {"task": samples["execution.executiontask"].pk, "ai_model": samples["execution.aimodel"].name,
               "proposal": samples["proposals.proposal"].pk,
               "experiment": samples["experiments.priceexperiment"].key}  # fmt: skip
    results = []
    for method, name, args, allowed in API:
        url = reverse(name, args=[targets[arg] for arg in args])
        for who, client in clients.items():
            response = client.get(url) if method == "GET" else client.post(url, {}, content_type="application/json")
            want = "allowed" if who in allowed else "refused"
            results.append((who, method, url, name, want, outcome(response)))
    assert not mismatches(results), "\n".join(mismatches(results))


def test_queue_dashboard_is_for_operators_and_django_rq_own_admin_is_not_mounted(clients):
    results = []
    for url in QUEUE_PAGES:
        for method in ("GET", "POST"):
            for who, client in clients.items():
                response = client.get(url) if method == "GET" else client.post(url, {})
                got = outcome(response)
                if who in (SU, OP) and url.endswith(("/schedulers/0/", "/no-such-job/delete/")):
                    continue  # a 404 for those allowed: nothing there (rq-scheduler is not used)
                want = "allowed" if who in (SU, OP) else "refused"
                results.append((who, method, url, "queues", want, got))
    for url in NOT_MOUNTED:
        for who, client in clients.items():
            results.append((who, "GET", url, "django-rq admin", "refused", outcome(client.get(url))))
            results.append((who, "POST", url, "django-rq admin", "refused", outcome(client.post(url, {}))))
    assert not mismatches(results), "\n".join(mismatches(results))


def test_role_groups_hold_exactly_the_role_table():
    for role, permissions in roles.ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert held == permissions, (role, sorted(held ^ permissions))
    assert set(Group.objects.values_list("name", flat=True)) == set(roles.ROLE_PERMISSIONS)


def test_readme_role_table_is_generated_from_the_role_table():
    assert roles.roles_markdown_table() in (ROOT / "README.md").read_text(encoding="utf-8")


STORY_LABELS = ["execution.executiontask", "execution.tasktype", "execution.aimodel", "offers.offertemplate",
                "proposals.proposal", "income.incomeevent", "safety.concern", "safety.riskrule",
                "safety.safetyaudit"]  # fmt: skip


def test_history_and_rating_pages_answer_as_their_objects_do(clients, samples):
    """The story page of an object answers whoever may view that object; rating a task type is for reviewers."""
    results = []
    for label in STORY_LABELS:
        url = reverse("admin:object_story", args=[*label.split("."), samples[label].pk])
        for who, client in clients.items():
            want = "allowed" if who in ACCESS[(label, "view")] else "refused"
            results.append((who, "GET", url, "story", want, outcome(client.get(url))))
    url = reverse("admin:safety_task_type_rate", args=[samples["execution.tasktype"].pk])
    for who, client in clients.items():
        for method in ("GET", "POST"):
            response = client.get(url) if method == "GET" else client.post(url, {})
            results.append((who, method, url, "rate", "allowed" if who in {SU, RV} else "refused", outcome(response)))
    assert not mismatches(results), "\n".join(mismatches(results))
