"""Blind-spot detectors: registered functions that each look at one thing the console cannot see or explain and
return what they find. `services.detectors_run` runs them all on the cron schedule and keeps the findings: one row
per fingerprint, counted on every run that sees it, resolved when a run no longer does.

A detector gets a `Look` (the time, settings, its own watermark and the fingerprints it has open) and returns
`Observation`s. Add one with `@detector("name", severity)`; README lists the shipped ones."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import django_rq
from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Max, Min, Q, Sum
from django.urls import reverse
from rq import Worker

from apps.execution.models import (
    AIModel,
    ExecutionEvent,
    ExecutionTask,
    ScopedHold,
    TaskStatus,
    TaskType,
    error_summary,
)
from apps.execution.services.control import execution_control
from apps.execution.services.transitions import INITIAL_STATUSES, TRANSITIONS
from apps.income.booking import HANDLERS
from apps.income.models import IncomeRollup, RollupGrain, TaskRollup

from .models import FailureSignature, Severity


@dataclass(frozen=True)
class Observation:
    fingerprint: str
    title: str
    detail: str = ""
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (label, URL, permission needed to open it)


@dataclass
class Look:
    now: datetime
    watermark: int  # the detector's own position in an append-only table (0 the first time)
    open_fingerprints: set[str]
    new_watermark: int | None = None  # set by a detector that read further


@dataclass(frozen=True)
class Detector:
    name: str
    severity: str
    check: Callable[[Look], list[Observation]]
    description: str


DETECTORS: dict[str, Detector] = {}


def detector(name: str, severity: str) -> Callable:
    def register(check: Callable[[Look], list[Observation]]) -> Callable:
        DETECTORS[name] = Detector(name, severity, check, (check.__doc__ or "").strip().split("\n")[0])
        return check

    return register


def admin_list(label: str, model_label: str, **filters) -> tuple[str, str, str]:
    """A link to a filtered admin list, with the permission its reader needs (the page shows it only to them)."""
    app, model = model_label.split(".")
    url = reverse(f"admin:{app}_{model}_changelist")
    return label, f"{url}?{urlencode(filters)}" if filters else url, f"{app}.view_{model}"


def admin_change(label: str, model_label: str, pk) -> tuple[str, str, str]:
    app, model = model_label.split(".")
    return label, reverse(f"admin:{app}_{model}_change", args=[pk]), f"{app}.view_{model}"


@detector("stalled_task_type", Severity.CRITICAL)
def stalled_task_types(look: Look) -> list[Observation]:
    """A task type with queued work and no run for METRICS_STALLED_AFTER_HOURS."""
    hours = settings.METRICS_STALLED_AFTER_HOURS
    since = look.now - timedelta(hours=hours)
    if execution_control().paused:
        return []  # nothing starts while paused: the banner says why, it is no blind spot
    held = set(ScopedHold.objects.filter(task_type__isnull=False).values_list("task_type_id", flat=True))
    waiting = set(
        ExecutionTask.objects.filter(status=TaskStatus.QUEUED, queued_at__lte=since)
        .values_list("task_type_id", flat=True).distinct()
    ) - held  # fmt: skip
    if not waiting:
        return []
    ran = set(
        TaskRollup.objects.filter(grain=RollupGrain.HOUR, task_type__in=waiting, period__gte=since - timedelta(hours=1),
                                  runs__gt=0).values_list("task_type_id", flat=True)
    )  # fmt: skip
    running = set(
        ExecutionTask.objects.filter(status=TaskStatus.RUNNING, task_type__in=waiting)
        .values_list("task_type_id", flat=True).distinct()
    )  # fmt: skip
    found = []
    for task_type in TaskType.objects.filter(pk__in=waiting - ran - running).order_by("slug"):
        last = TaskRollup.objects.filter(grain=RollupGrain.HOUR, task_type=task_type, runs__gt=0).aggregate(
            last=Max("period")
        )["last"]
        found.append(Observation(
            fingerprint=f"type:{task_type.slug}",
            title=f"{task_type.slug}: queued work and no run for {hours} h",
            detail=f"Last run finished in the hour from {last:%Y-%m-%d %H:%M} UTC." if last else "It never ran.",
            links=[admin_list("queued tasks", "execution.executiontask", status__exact="queued",
                              task_type__id__exact=task_type.pk)],
        ))  # fmt: skip
    return found


@detector("model_without_price", Severity.WARNING)
def models_without_price(look: Look) -> list[Observation]:
    """An AI model with runs but no price: what its work costs is unknown."""
    since = look.now - timedelta(days=settings.METRICS_LOOKBACK_DAYS)
    unpriced = AIModel.objects.filter(Q(input_price_per_million=None) | Q(output_price_per_million=None))
    runs = dict(
        TaskRollup.objects.filter(grain=RollupGrain.DAY, period__gte=since, ai_model__in=unpriced.values("name"))
        .values("ai_model").annotate(runs=Sum("runs")).filter(runs__gt=0).values_list("ai_model", "runs")
    )  # fmt: skip
    return [
        Observation(
            fingerprint=f"model:{name}",
            title=f"{name}: {runs[name]} runs without a price",
            detail=f"Runs in the last {settings.METRICS_LOOKBACK_DAYS} days have no known cost; ROI leaves them out.",
            links=[
                admin_change("model", "execution.aimodel", pk),
                admin_list("its tasks", "execution.executiontask", ai_model__name__exact=name),
            ],
        )  # fmt: skip
        for pk, name in unpriced.filter(name__in=runs).order_by("name").values_list("pk", "name")
    ]


@detector("unattributed_income", Severity.WARNING)
def unattributed_income(look: Look) -> list[Observation]:
    """Income not attributed to a task or a model: ROI cannot place it."""
    since = look.now - timedelta(days=settings.METRICS_LOOKBACK_DAYS)
    totals = (
        IncomeRollup.objects.filter(grain=RollupGrain.DAY, period__gte=since, ai_model=None, task_type=None)
        .values("currency").annotate(amount=Sum("amount"), events=Sum("events")).filter(events__gt=0)
        .order_by("currency")
    )  # fmt: skip
    return [
        Observation(
            fingerprint=f"currency:{line['currency']}",
            title=f"{line['events']} income rows ({line['amount']} {line['currency'].upper()}) not attributed",
            detail=f"Last {settings.METRICS_LOOKBACK_DAYS} days: neither a task nor a model is known for them.",
            links=[admin_list("unattributed income", "income.incomeevent", attributed="no", currency=line["currency"])],
        )  # fmt: skip
        for line in totals
    ]


NUMBERS = re.compile(r"0x[0-9a-f]+|[0-9a-f]{8}-[0-9a-f-]{27,}|\d+(\.\d+)?", re.I)


def failure_signature(error: str) -> tuple[str, str]:
    """(hash, text) of a failure's summary line with numbers, hex and UUIDs replaced by '#'."""
    text = NUMBERS.sub("#", error_summary(error) or "(no error text)")[:300]
    return hashlib.sha256(text.encode()).hexdigest(), text


# Rows are read up to this long before now: a worker's transaction that stamped finished_at (or wrote an event)
# commits within it, so a row committed late is still read by the next look.
COMMIT_LAG = timedelta(minutes=1)
EVENTS_PER_LOOK = 500_000


@detector("new_failure_signature", Severity.WARNING)
def new_failure_signatures(look: Look) -> list[Observation]:
    """A failure signature never seen before (new for METRICS_NEW_FAILURE_HOURS)."""
    # The watermark is a time (microseconds since the epoch): tasks fail out of id order, and a retried task
    # fails again with a later finished_at.
    since = datetime.fromtimestamp(look.watermark / 1_000_000, tz=UTC) if look.watermark else None
    until = look.now - COMMIT_LAG
    failed = ExecutionTask.objects.filter(status=TaskStatus.FAILED, finished_at__lte=until)
    if since is not None:
        failed = failed.filter(finished_at__gt=since)
    # One row per distinct error text (a first look at a big table reads every failure once, grouped in SQL).
    by_error = failed.values("error").annotate(n=Count("id"), first_at=Min("finished_at"), first_id=Min("id"))
    for line in by_error.order_by("first_at", "first_id"):
        signature, text = failure_signature(line["error"])
        known, _ = FailureSignature.objects.get_or_create(
            signature=signature,
            defaults={"text": text, "first_seen": line["first_at"], "first_task_id": line["first_id"]},
        )
        FailureSignature.objects.filter(pk=known.pk).update(count=F("count") + line["n"])
    look.new_watermark = int(until.timestamp() * 1_000_000)
    recent = FailureSignature.objects.filter(
        first_seen__gte=look.now - timedelta(hours=settings.METRICS_NEW_FAILURE_HOURS)
    ).order_by("first_seen", "first_task_id")
    return [
        Observation(
            fingerprint=f"signature:{sig.signature[:16]}",
            title=f"New failure: {sig.text}",
            detail=f"First seen {sig.first_seen:%Y-%m-%d %H:%M} UTC on task #{sig.first_task_id}; {sig.count} so far.",
            links=[
                admin_change("first task", "execution.executiontask", sig.first_task_id),
                admin_list("failed tasks", "execution.executiontask", status__exact="failed"),
            ],
        )  # fmt: skip
        for sig in recent
    ]


@detector("unrated_task_type", Severity.WARNING)
def unrated_task_types(look: Look) -> list[Observation]:
    """A task type never rated for risk: its tasks all go to review as high risk."""
    return [
        Observation(
            fingerprint=f"type:{slug}",
            title=f"{slug}: never rated for risk",
            links=[admin_change("task type", "execution.tasktype", pk)],
        )
        for pk, slug in TaskType.objects.filter(risk_rated_at=None).order_by("slug").values_list("pk", "slug")
    ]


@detector("queue_without_worker", Severity.CRITICAL)
def queues_without_worker(look: Look) -> list[Observation]:
    """A queue with jobs waiting and no live worker listening to it."""
    found = []
    for name in settings.RQ_QUEUES:
        queue = django_rq.get_queue(name)
        waiting = queue.count
        if waiting and not Worker.all(queue=queue):
            found.append(Observation(
                fingerprint=f"queue:{name}", title=f"Queue {name}: {waiting} jobs and no worker",
                detail="Start a worker (`make run` starts one; `manage.py rqworker` in production).",
                links=[("queues", reverse("admin:execution_executiontask_queue_statistics"),
                        "execution.change_executiontask")],  # the queue page is the operators'
            ))  # fmt: skip
    return found


UNHANDLED_TYPES_SQL = """
SELECT body::jsonb ->> 'type' AS type, count(*), max(id)
FROM djstripe_webhookeventtrigger
WHERE created >= %s AND valid AND body LIKE '{%%'
GROUP BY 1 HAVING NOT (body::jsonb ->> 'type' = ANY(%s)) ORDER BY 1
"""


@detector("unhandled_stripe_event", Severity.INFO)
def unhandled_stripe_events(look: Look) -> list[Observation]:
    """Stripe event types received (signed) but not handled by the ledger."""
    since = look.now - timedelta(days=settings.METRICS_LOOKBACK_DAYS)
    with connection.cursor() as cursor:
        cursor.execute(UNHANDLED_TYPES_SQL, [since, list(HANDLERS)])
        rows = cursor.fetchall()
    return [
        Observation(
            fingerprint=f"type:{event_type}",
            title=f"Stripe sends {event_type} ({count}x) and nothing handles it",
            detail="Unsubscribe the endpoint from it in Stripe, or teach the ledger (apps/income/booking.py).",
            links=[admin_change("latest delivery", "djstripe.webhookeventtrigger", last_id)],
        )
        for event_type, count, last_id in rows
        if event_type
    ]


# The status each event kind leaves its task in ("created": either initial status).
EVENT_STATUS = {
    ExecutionEvent.Kind.QUEUED: {TaskStatus.QUEUED},
    ExecutionEvent.Kind.STARTED: {TaskStatus.RUNNING},
    ExecutionEvent.Kind.COMPLETED: {TaskStatus.SUCCEEDED},
    ExecutionEvent.Kind.FAILED: {TaskStatus.FAILED},
    ExecutionEvent.Kind.RETRIED: {TaskStatus.QUEUED},
    # A running task's cancellation is first requested (status unchanged), then done at its next safe point.
    ExecutionEvent.Kind.CANCELLED: {TaskStatus.CANCELLED, TaskStatus.RUNNING},
    ExecutionEvent.Kind.APPROVED: {TaskStatus.PENDING},
    ExecutionEvent.Kind.REJECTED: {TaskStatus.CANCELLED},
    ExecutionEvent.Kind.ENQUEUE_FAILED: {TaskStatus.PENDING},
    ExecutionEvent.Kind.SENT_TO_REVIEW: {TaskStatus.NEEDS_REVIEW},
    ExecutionEvent.Kind.CREATED: set(INITIAL_STATUSES),
}


def allowed_event_pairs() -> list[list[str]]:
    """Every (event, next event) the state machine allows: the second's status reachable from the first's (or,
    for a cancellation request, the status it leaves as it was)."""
    return [
        [first, second]
        for first, left in EVENT_STATUS.items()
        for second, right in EVENT_STATUS.items()
        if second != ExecutionEvent.Kind.CREATED
        and any(
            after in TRANSITIONS[before] or (second == ExecutionEvent.Kind.CANCELLED and after == before)
            for before in left
            for after in right
        )
    ]


OUT_OF_ORDER_SQL = """
WITH touched AS (
    SELECT DISTINCT task_id FROM execution_events WHERE id > %(watermark)s AND id <= %(until)s
    UNION SELECT unnest(%(recheck)s::bigint[])
), ordered AS (
    SELECT e.task_id, e.id, e.kind, lag(e.kind) OVER (PARTITION BY e.task_id ORDER BY e.id) AS previous
    FROM execution_events e JOIN touched USING (task_id)
)
SELECT task_id, min(previous || ' -> ' || kind) FROM ordered
WHERE previous IS NOT NULL AND NOT (ARRAY[previous, kind]::text[] = ANY(
    SELECT ARRAY[a, b] FROM jsonb_to_recordset(%(allowed)s::jsonb) AS p(a text, b text)))
GROUP BY task_id ORDER BY task_id
"""


@detector("event_order_broken", Severity.CRITICAL)
def events_out_of_order(look: Look) -> list[Observation]:
    """Tasks whose events break the state machine's order (a status change that bypassed the funnel)."""
    # Events of one task are written one transaction after another (each holds the task's row): id order is their
    # order, whatever the writers' clocks say.
    until = ExecutionEvent.objects.filter(created_at__lte=look.now - COMMIT_LAG).aggregate(last=Max("id"))["last"] or 0
    until = max(min(until, look.watermark + EVENTS_PER_LOOK), look.watermark)  # a first look catches up in steps
    recheck = [int(fp.split(":")[1]) for fp in look.open_fingerprints if fp.startswith("task:")]
    allowed = json.dumps([{"a": a, "b": b} for a, b in allowed_event_pairs()])
    with connection.cursor() as cursor:
        cursor.execute(OUT_OF_ORDER_SQL, {"watermark": look.watermark, "until": until, "recheck": recheck,
                                          "allowed": allowed})  # fmt: skip
        rows = cursor.fetchall()
    look.new_watermark = until
    return [
        Observation(
            fingerprint=f"task:{task_id}",
            title=f"Task #{task_id}: events out of the state machine's order",
            detail=f"{pair} is not a move the state machine allows.",
            links=[
                admin_change("task", "execution.executiontask", task_id),
                admin_list("its events", "execution.executionevent", q=task_id),
            ],
        )  # fmt: skip
        for task_id, pair in rows
    ]
