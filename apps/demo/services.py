"""Demo data: enough of everything for the lists, the ROI page and the charts to show something real.

Tasks, their events and their income are written with COPY (100,000 tasks are about 450,000 events) in batches of
one transaction each; every other row goes through the services, as a person's would. Every step is idempotent:
a second run adds only what is missing and says what it skipped."""

from __future__ import annotations

import json
import math
import random
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.core.roles import OFFER_BUILDERS, OPERATORS, REVIEWERS
from apps.execution.models import AIModel, ExecutionTask, TaskType
from apps.execution.services import task_create
from apps.metrics.drift import drift_evaluate
from apps.metrics.findings import detectors_run
from apps.metrics.leadtimes import lead_times_refresh
from apps.offers.models import OfferTemplate
from apps.offers.starters import offer_starters_create
from apps.proposals.models import Proposal
from apps.proposals.services import proposal_ingest
from apps.safety.audits import audit_run
from apps.safety.models import AuditRun, Concern, SafetyAudit
from apps.safety.services import concern_report, concern_resolve

ECHO_MODEL = "echo"
DAYS = 90
BATCH = 5_000
DEMO_MARK = "demo"  # key in a demo task's payload: how a second run counts what is there

# name, provider, input and output price per million tokens, speed factor, failure rate, share of the tasks
MODELS = [
    ("qwen2.5-coder-32b", "openai_compatible", "2.00", "6.00", 1.0, 0.04, 0.45),
    ("gpt-4o-mini", "openai_compatible", "0.15", "0.60", 0.8, 0.02, 0.30),
    ("llama-3.1-70b", "openai_compatible", "0.60", "0.80", 1.3, 0.09, 0.20),
    (ECHO_MODEL, "echo", None, None, 0.01, 0.0, 0.05),
]
# task type, median duration in ms (the AI system's own measurements), share of the tasks, income per task
TYPES = [("implement_idea", 6900, 0.35, 0.25), ("idea_implementation", 2700, 0.25, 0.05),
         ("self_improvement", 600, 0.35, 0.01), ("self_programming", 4000, 0.05, 0.0)]  # fmt: skip
ERRORS = [
    "openai.APITimeoutError: Request timed out.",
    "openai.RateLimitError: Error code: 429 - {'error': {'message': 'Rate limit reached for requests'}}",
    "openai.InternalServerError: Error code: 502 - {'error': {'message': 'Bad gateway'}}",
    "openai.APIConnectionError: Connection error.",
]
TRACEBACK = """Traceback (most recent call last):
  File "/srv/opsconsole/apps/execution/services/running.py", line 68, in task_run
    output = executor_run(task)
  File "/srv/opsconsole/apps/execution/executors.py", line 103, in executor_run
    return executor(task)
  File "/srv/opsconsole/apps/execution/executors.py", line 77, in run_openai_compatible
    completion = client.chat.completions.create(model=task.ai_model_id, messages=_chat_messages(task.payload))
  File "/srv/venv/lib/python3.11/site-packages/openai/_base_client.py", line 1047, in request
    raise self._make_status_error_from_response(err.response) from None
{error}
"""
PROMPTS = ["Review the pull request that adds retry backoff", "Implement CSV export of the ROI table",
           "Profile the slowest stage of implement_idea", "Add an index for the events list",
           "Summarise last week's blind spots", "Draft a fix for the missing ai_model column"]  # fmt: skip
TASK_COLUMNS = ("id", "task_type_id", "ai_model", "status", "priority", "payload", "result", "error", "attempts",
                "created_at", "queued_at", "started_at", "finished_at", "duration_ms", "input_tokens",
                "output_tokens", "cost", "rq_job_id", "cancel_requested", "created_by_id")  # fmt: skip
EVENT_COLUMNS = ("task_id", "kind", "ai_model", "message", "error", "actor_id", "duration_ms", "created_at")
INCOME_COLUMNS = ("kind", "amount", "currency", "occurred_at", "stripe_event_id", "stripe_object_id",
                  "payment_intent_id", "metadata", "reason", "created_at", "ai_model", "offer_id", "task_id",
                  "task_type_id", "attribution_source", "charge_id", "balance_transaction_id", "settlement_currency",
                  "settlement_amount", "fee", "net")  # fmt: skip
DISPUTE_FEE = Decimal("15.00")
REVIEW_BACKLOG = 24
PROPOSALS = 30


Progress = Callable[[str, int, int], None]  # step, done, total


def echo_model_ensure() -> tuple[AIModel, bool]:
    """The model a fresh install runs its first task on: it answers with the payload, costs nothing, calls
    nothing (`make run` makes sure it exists)."""
    return AIModel.objects.get_or_create(
        name=ECHO_MODEL,
        defaults={"provider": AIModel.Provider.ECHO, "endpoint_approved_at": timezone.now(),
                  "input_price_per_million": Decimal("0"), "output_price_per_million": Decimal("0")},
    )  # fmt: skip


def demo_models_ensure() -> list[str]:
    created = []
    for name, provider, input_price, output_price, *_ in MODELS:
        if name == ECHO_MODEL:
            _, new = echo_model_ensure()
        else:
            _, new = AIModel.objects.get_or_create(
                name=name, defaults={"provider": provider, "input_price_per_million": Decimal(input_price),
                                     "output_price_per_million": Decimal(output_price)},
            )  # fmt: skip
        if new:
            created.append(name)
    return created


DEMO_USERS = {"demo-operator": OPERATORS, "demo-builder": OFFER_BUILDERS, "demo-reviewer": REVIEWERS}


def demo_users_ensure() -> dict[str, str | None]:
    """One staff user per role; the password of each user created now (None for those that existed)."""
    passwords: dict[str, str | None] = {}
    User = get_user_model()
    for username, group in DEMO_USERS.items():
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
        passwords[username] = None
        if created:
            passwords[username] = secrets.token_urlsafe(9)
            user.set_password(passwords[username])
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=group))
    return passwords


@dataclass
class TaskSeedReport:
    existing: int
    added: int
    events: int
    income_rows: int


def demo_tasks_seed(*, count: int, progress: Progress, now: datetime | None = None) -> TaskSeedReport:
    """Add demo tasks until `count` exist, spread over the last 90 days, with their events and income."""
    existing = ExecutionTask.objects.filter(payload__has_key=DEMO_MARK).count()
    missing = max(0, count - existing)
    report = TaskSeedReport(existing=existing, added=0, events=0, income_rows=0)
    if not missing:
        return report
    world = _World.load(now or timezone.now())
    rng = random.Random(existing)  # noqa: S311 - demo figures, not secrets; another run continues the series
    created = sorted(world.now - timedelta(days=DAYS * rng.random()) for _ in range(missing))
    progress("tasks", 0, missing)
    for start in range(0, missing, BATCH):
        batch = created[start : start + BATCH]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('execution_tasks', 'id')) FROM generate_series(1, %s)",
                [len(batch)],
            )
            ids = [row[0] for row in cursor.fetchall()]
            tasks = [world.task(rng, task_id, at) for task_id, at in zip(ids, batch, strict=True)]
            report.events += _copy(cursor, "execution_events", EVENT_COLUMNS,
                                   (event for task in tasks for event in task.events))  # fmt: skip
            _copy(cursor, "execution_tasks", TASK_COLUMNS, (task.row for task in tasks))
            report.income_rows += _copy(cursor, "income_events", INCOME_COLUMNS,
                                        (row for task in tasks for row in task.income))  # fmt: skip
        report.added += len(batch)
        progress("tasks", report.added, missing)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE execution_tasks, execution_events, income_events")
    return report


def _copy(cursor, table: str, columns: tuple[str, ...], rows: Iterator[tuple]) -> int:
    written = 0
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written


@dataclass
class _DemoTask:
    row: tuple
    events: list[tuple]
    income: list[tuple]


@dataclass
class _World:
    """What the generated rows refer to: models, types, offers and the demo users."""

    now: datetime
    models: list[tuple]
    model_weights: list[float]
    types: dict[str, tuple[int, int, float]]  # slug -> (id, median ms, income chance)
    type_weights: list[float]
    offers: dict[int, OfferTemplate]  # task type id -> its offer
    operator_id: int
    reviewer_id: int

    @classmethod
    def load(cls, now: datetime) -> _World:
        User = get_user_model()
        type_ids = dict(TaskType.objects.filter(slug__in=[t[0] for t in TYPES]).values_list("slug", "id"))
        return cls(
            now=now,
            models=[
                (name, Decimal(i) if i else None, Decimal(o) if o else None, speed, failure)
                for name, _provider, i, o, speed, failure, _share in MODELS
            ],  # fmt: skip
            model_weights=[share for *_, share in MODELS],
            types={slug: (type_ids[slug], median, income) for slug, median, _share, income in TYPES},
            type_weights=[share for _slug, _median, share, _income in TYPES],
            offers={offer.task_type_id: offer for offer in OfferTemplate.objects.order_by("pk")},
            operator_id=User.objects.get(username="demo-operator").pk,
            reviewer_id=User.objects.get(username="demo-reviewer").pk,
        )

    def task(self, rng: random.Random, task_id: int, created_at: datetime) -> _DemoTask:
        name, input_price, output_price, speed, failure_rate = rng.choices(self.models, self.model_weights)[0]
        slug = rng.choices(list(self.types), self.type_weights)[0]
        type_id, median_ms, income_chance = self.types[slug]
        roll = rng.random()
        status = "failed" if roll < failure_rate else "cancelled" if roll > 0.99 else "succeeded"
        attempts = 3 if status == "failed" else 2 if rng.random() < 0.06 else 1
        duration = max(1, int(median_ms * speed * math.exp(rng.gauss(0, 0.5))))
        tokens = (0, 0) if name == ECHO_MODEL else (rng.randint(800, 4000), rng.randint(200, 1500))
        if status != "succeeded":
            tokens = (None, None)  # as the engine records them: usage comes with a reply
        cost = None
        if input_price is not None and status == "succeeded":
            cost = ((tokens[0] * input_price + tokens[1] * output_price) / 1_000_000).quantize(Decimal("0.000001"))
        error = TRACEBACK.format(error=rng.choice(ERRORS)) if status == "failed" else ""
        prompt = rng.choice(PROMPTS)
        queued_at = created_at + timedelta(milliseconds=40)
        events = [(task_id, "created", name, "", "", self.operator_id, None, created_at)]
        if slug == "self_programming":
            events.append((task_id, "approved", name, "looks safe", "", self.reviewer_id, None,
                           created_at + timedelta(minutes=rng.randint(5, 600))))  # fmt: skip
            queued_at = events[-1][-1]
        events.append((task_id, "queued", name, "", "", self.operator_id, None, queued_at))
        at = queued_at + timedelta(milliseconds=rng.randint(50, 3000))
        started_at = at
        for attempt in range(1, attempts + 1):
            events.append((task_id, "started", name, f"attempt {attempt}", "", None, None, at))
            started_at = at
            at += timedelta(milliseconds=duration)
            if attempt < attempts:
                retry_error = TRACEBACK.format(error=rng.choice(ERRORS))
                events.append((task_id, "retried", name, f"attempt {attempt} of 3 failed; retrying in 2 s",
                               retry_error, None, duration, at))  # fmt: skip
                at += timedelta(seconds=2)
        finished_at = at
        if status == "succeeded":
            usage = f"{tokens[0]} in / {tokens[1]} out tokens, cost {'unknown' if cost is None else cost}"
            events.append((task_id, "completed", name, usage, "", None, duration, finished_at))
        elif status == "failed":
            events.append((task_id, "failed", name, f"failed after {attempts} attempt(s)", error, None, duration,
                           finished_at))  # fmt: skip
        else:
            events.append((task_id, "cancelled", name, "cancelled by an operator", "", self.operator_id, None,
                           finished_at))  # fmt: skip
        result = None
        if status == "succeeded":
            result = json.dumps({"reply": f"Done: {prompt.lower()}.", "finish_reason": "stop"})
        row = (task_id, type_id, name, status, 0, json.dumps({DEMO_MARK: True, "prompt": prompt}), result, error,
               attempts, created_at, queued_at, started_at, finished_at, duration, tokens[0], tokens[1], cost,
               f"task-{task_id}-{attempts}", False, self.operator_id)  # fmt: skip
        income = []
        offer = self.offers.get(type_id)
        if status == "succeeded" and offer is not None and name != ECHO_MODEL and rng.random() < income_chance:
            paid_at = finished_at + timedelta(minutes=rng.randint(1, 240))
            if paid_at < self.now:
                # As Stripe would settle it: card fee 2.9 % + 0.30 on the payment, none on a refund, 15.00 per
                # dispute; a lost dispute leaves only the fees.
                fee = (offer.price * Decimal("0.029") + Decimal("0.30")).quantize(Decimal("0.01"))
                money = (offer.pk, task_id, type_id, "metadata", f"ch_demo_{task_id}")
                income.append(("payment", offer.price, offer.currency, paid_at, f"evt_demo_{task_id}",
                               f"pi_demo_{task_id}", f"pi_demo_{task_id}", "{}", "", paid_at, name, *money,
                               f"txn_demo_{task_id}", offer.currency, offer.price, fee, offer.price - fee))  # fmt: skip
                chance = rng.random()
                undone_at = paid_at + timedelta(days=rng.randint(1, 5))
                if chance < 0.03 and undone_at < self.now:
                    income.append(("refund", -offer.price, offer.currency, undone_at, f"evt_demo_refund_{task_id}",
                                   f"ch_demo_{task_id}", f"pi_demo_{task_id}", "{}", "", undone_at, name, *money,
                                   f"txn_demo_refund_{task_id}", offer.currency, -offer.price, 0,
                                   -offer.price))  # fmt: skip
                elif chance < 0.04 and undone_at < self.now:
                    income.append(("dispute", -offer.price, offer.currency, undone_at, f"evt_demo_dispute_{task_id}",
                                   f"du_demo_{task_id}", f"pi_demo_{task_id}", "{}", "", undone_at, name, *money,
                                   f"txn_demo_dispute_{task_id}", offer.currency, -offer.price, DISPUTE_FEE,
                                   -offer.price - DISPUTE_FEE))  # fmt: skip
        return _DemoTask(row=row, events=events, income=income)


def demo_offers_ensure() -> list[str]:
    model = AIModel.objects.get(name=MODELS[0][0])
    return [offer.slug for offer, created in offer_starters_create(ai_model=model) if created]


def demo_review_backlog_ensure() -> int:
    """Tasks waiting for a reviewer, created by the demo operator (a reviewer may not approve their own)."""
    waiting = ExecutionTask.objects.filter(status=ExecutionTask.Status.NEEDS_REVIEW, payload__has_key=DEMO_MARK)
    missing = max(0, REVIEW_BACKLOG - waiting.count())
    operator = get_user_model().objects.get(username="demo-operator")
    for n in range(missing):
        payload = {DEMO_MARK: True, "prompt": f"Change the retry policy of stage {n + 1}", **BACKLOG_EXTRAS[n % 4]}
        task_create(task_type="self_programming", ai_model=MODELS[n % 3][0], created_by=operator, payload=payload)
    return missing


# What the backlog's tasks carry besides their prompt, so that their risk breakdowns differ.
BACKLOG_EXTRAS = [
    {},
    {"diff": "--- a/engine/retry.py\n+++ b/engine/retry.py\n@@ -3 +3 @@\n-MAX = 3\n+MAX = 5\n"},
    {"command": "sudo systemctl restart opsconsole-worker"},
    {"migration": "ALTER TABLE execution_tasks ADD COLUMN retry_budget integer"},
]
NEW_TASK_TYPE = "incident_summaries"  # added by an operator, never rated: its tasks wait for review


def demo_safety_ensure() -> dict[str, int]:
    """A task type nobody rated yet (with tasks waiting because of it), concerns open and resolved, and a
    first run of two scheduled audits."""
    operator = get_user_model().objects.get(username="demo-operator")
    builder = get_user_model().objects.get(username="demo-builder")
    reviewer = get_user_model().objects.get(username="demo-reviewer")
    added = {"tasks": 0, "concerns": 0, "audit runs": 0}
    new_type, created = TaskType.objects.get_or_create(
        slug=NEW_TASK_TYPE, defaults={"executor": TaskType.Executor.ECHO,
                                      "description": "Summarise last night's incidents for the on-call channel."})
    if created:
        for n in range(2):
            task_create(task_type=new_type, ai_model=ECHO_MODEL, created_by=operator,
                        payload={DEMO_MARK: True, "prompt": f"Summarise incident batch {n + 1}"})  # fmt: skip
            added["tasks"] += 1
        for n, customer in enumerate(("acme", "globex", "initech")):  # sold work: money at stake
            task_create(task_type="implement_idea", ai_model=MODELS[0][0], created_by=operator, payload={
                DEMO_MARK: True, "prompt": f"Ship the {customer} export",
                "steps": ["DELETE FROM exports WHERE customer = 'x'", "sudo systemctl reload nginx"][: n + 1]})
            added["tasks"] += 1
    if not Concern.objects.exists():
        concern_report(reporter=builder, ai_model=AIModel.objects.get(name=MODELS[1][0]), category="quality",
                       severity="high", text="Its code reviews invent package names that do not exist.")
        waiting = ExecutionTask.objects.filter(status=ExecutionTask.Status.NEEDS_REVIEW).order_by("pk").first()
        if waiting is not None:
            concern_report(reporter=operator, task=waiting, category="security", severity="medium",
                           text="The payload restarts a production service.")  # fmt: skip
        resolved = concern_report(reporter=operator, task_type=TaskType.objects.get(slug="implement_idea"),
                                  category="billing", severity="low", text="Is this stage priced per run or per PR?")
        concern_resolve(concern=resolved, reviewer=reviewer, note="Per PR: see the offer 'AI-Powered Code Review'.")
        added["concerns"] = 3
    if not AuditRun.objects.exists():
        for name in ("Audit chain intact", "Probe: self-approval refused"):
            audit_run(audit=SafetyAudit.objects.get(name=name), actor=reviewer)
            added["audit runs"] += 1
    return added


CATEGORIES = ["self_improvement", "implement_idea", "idea_implementation", "ethics", "performance"]
REPORT = """# FSAR Proposal Report
- id: {report_id}
- timestamp: {at}
- severity: {severity}
- block_execution: {block}
- proposal:

{category}: {title}. The figures of the last {days} days point at this; the steps below say what to change.

### 1. What to change
- Measure the stage first, then change it.

## Risks
- Slow failure: unnoticed degradation accumulating

## Mitigations
- Track leading indicators for drift; alert on trend change
"""
TITLES = ["Profile the slow implement_idea stage", "Add audit entries for self_programming tasks",
          "Score the risk of new task types", "Let users report concerns", "Schedule adversarial audits",
          "A/B test the code review price", "Detect blind spots in the nightly runs"]  # fmt: skip


def demo_proposals_ensure(*, now: datetime | None = None) -> tuple[int, int]:
    """FSAR reports through the same ingestion as uploads: a month of them, the newest one blocking execution
    (so the hold and its banner can be seen). Returns (imported, already there)."""
    now = now or timezone.now()
    imported = known = 0
    for n in range(PROPOSALS):
        report_id = f"fsar_{uuid.uuid5(uuid.NAMESPACE_URL, f'opsconsole-demo-report-{n}')}"
        if Proposal.objects.filter(report_id=report_id).exists():
            known += 1
            continue
        text = REPORT.format(
            report_id=report_id, at=(now - timedelta(days=PROPOSALS - n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            severity=1 + n * 7 % 10,
            block="true" if n == PROPOSALS - 1 else "false", category=CATEGORIES[n % len(CATEGORIES)],
            title=TITLES[n % len(TITLES)], days=7 + n,
        )  # fmt: skip
        proposal_ingest(data=text, source="seed_demo")
        imported += 1
    return imported, known


DRIFT_MODEL, DRIFT_TYPE = "llama-3.1-70b", "idea_implementation"
DRIFT_HOURS, DRIFT_RUNS_PER_HOUR = 6, 20


def demo_metrics_ensure(*, now: datetime | None = None) -> dict[str, int]:
    """What the dashboard and alerts need to show something: decisions and tasks on some reports (lead times), a
    week of steady hourly work for one model and type whose failures jump in the last three hours (a drift
    alert), then one pass of the detectors, the drift judgement and the lead times."""
    now = now or timezone.now()
    added = {"decided reports": 0, "drift tasks": 0}
    operator = get_user_model().objects.get(username="demo-operator")
    for n, proposal in enumerate(Proposal.objects.filter(source="seed_demo", decided_at=None).order_by("reported_at")):
        if n % 3 == 2 or proposal.block_execution:
            continue
        implemented = n % 3 == 0 and n < 20
        tasks = list(ExecutionTask.objects.filter(payload__has_key=DEMO_MARK, status="succeeded",
                                                  created_at__gt=proposal.reported_at).order_by("created_at")[:2])
        Proposal.objects.filter(pk=proposal.pk).update(
            status="implemented" if implemented else "accepted", decided_by=operator,
            decided_at=proposal.reported_at + timedelta(hours=6 + 11 * n),
            implemented_by=operator if implemented else None,
            implemented_at=proposal.reported_at + timedelta(days=2 + n // 2) if implemented else None,
        )  # fmt: skip
        proposal.tasks.add(*tasks)
        added["decided reports"] += 1
    drift_type = TaskType.objects.get(slug=DRIFT_TYPE)
    if not ExecutionTask.objects.filter(payload__has_key="drift_demo").exists():
        rng = random.Random(18)  # noqa: S311 - demo figures
        hour = now.replace(minute=0, second=0, microsecond=0)
        rows = []
        for day in range(8):
            for back in range(1, DRIFT_HOURS + 1):
                start = hour - timedelta(days=day, hours=back)
                failing = 0.45 if day == 0 and back <= 3 else 0.03
                for _ in range(DRIFT_RUNS_PER_HOUR):
                    finished = start + timedelta(seconds=rng.randint(60, 3500))
                    failed = rng.random() < failing
                    duration = int(2700 * math.exp(rng.gauss(0, 0.4)))
                    rows.append(ExecutionTask(
                        task_type=drift_type, ai_model_id=DRIFT_MODEL, status="failed" if failed else "succeeded",
                        payload={DEMO_MARK: True, "drift_demo": True, "prompt": rng.choice(PROMPTS)}, attempts=1,
                        error=TRACEBACK.format(error=(
                            f"openai.BadRequestError: Error code: 400 - context length {rng.randint(9000, 9999)} "
                            "exceeds 8192" if day == 0 else rng.choice(ERRORS))) if failed else "",
                        created_at=finished - timedelta(milliseconds=duration + 500), finished_at=finished,
                        started_at=finished - timedelta(milliseconds=duration), duration_ms=duration,
                        input_tokens=None if failed else 1500, output_tokens=None if failed else 400,
                        cost=None if failed else Decimal("0.001220"), created_by=operator,
                    ))  # fmt: skip
        ExecutionTask.objects.bulk_create(rows, batch_size=1000)
        # auto_now_add stamped them now: created just before they started, as the engine would have
        ExecutionTask.objects.filter(payload__has_key="drift_demo").update(
            created_at=F("started_at") - timedelta(milliseconds=500)
        )
        added["drift tasks"] = len(rows)
    detectors_run(now)
    drift_evaluate(now)
    lead_times_refresh()
    return added
