"""Model rollouts: a candidate AI model takes a growing share of a task type's tasks from the champion, its arm
compared with the champion's on every run, and held (champion only) by itself when a guardrail shows it
significantly worse. Routing itself is the execution engine's (apps/execution/services/rollouts.py).

Looks: a guardrail look happens each time the candidate's finished runs pass another horizon / looks, once
both arms have EXPERIMENTS_MIN_RUNS_PER_ARM; each look tests each guardrail at alpha / (looks x guardrails)
(Bonferroni), so the scheduled judging cannot raise the false-alarm rate above alpha however long it runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

import django_rq
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from apps.auditlog.services import audit_record
from apps.core.assignment import assignment_salt
from apps.execution.models import AIModel, ExecutionTask, ModelRollout, TaskType

from .stats import Comparison, Moments, means_compare, proportions_compare

logger = logging.getLogger(__name__)
Status = ModelRollout.Status
GUARDRAILS = {
    "failure_rate": "failure rate",
    "duration": "mean duration",
    "cost": "cost per run",
    "review_rejections": "review rejection rate",
    "concerns": "concern rate",
}
DEFAULT_GUARDRAILS = ["failure_rate", "review_rejections", "concerns"]

ARMS_SQL = """
SELECT t.ai_model,
       COUNT(*) AS tasks,
       COUNT(*) FILTER (WHERE t.status IN ('succeeded', 'failed')) AS runs,
       COUNT(*) FILTER (WHERE t.status = 'succeeded') AS successes,
       COUNT(*) FILTER (WHERE t.status = 'failed') AS failures,
       COUNT(t.duration_ms), COALESCE(SUM(t.duration_ms::float8), 0), COALESCE(SUM(t.duration_ms::float8 ^ 2), 0),
       PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY t.duration_ms) AS p95,
       COUNT(t.cost) FILTER (WHERE t.status IN ('succeeded', 'failed')),
       COALESCE(SUM(t.cost::float8) FILTER (WHERE t.status IN ('succeeded', 'failed')), 0),
       COALESCE(SUM(t.cost::float8 ^ 2) FILTER (WHERE t.status IN ('succeeded', 'failed')), 0),
       COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM execution_events e WHERE e.task_id = t.id
                                       AND e.kind IN ('approved', 'rejected'))) AS reviewed,
       COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM execution_events e WHERE e.task_id = t.id
                                       AND e.kind = 'rejected')) AS rejected,
       COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM safety_concern c WHERE c.task_id = t.id)) AS concerned,
       COALESCE(SUM((SELECT SUM(i.amount) FROM income_events i WHERE i.task_id = t.id AND i.currency = %(currency)s)),
                0) AS income
FROM execution_tasks t
WHERE t.rollout_id = %(rollout)s AND t.created_at >= %(since)s
GROUP BY t.ai_model
"""


@dataclass
class Arm:
    ai_model: str
    tasks: int = 0
    runs: int = 0
    successes: int = 0
    failures: int = 0
    duration: Moments = field(default_factory=lambda: Moments(0, 0.0, 0.0))
    p95_ms: float | None = None
    cost: Moments = field(default_factory=lambda: Moments(0, 0.0, 0.0))
    reviewed: int = 0
    rejected: int = 0
    concerned: int = 0
    income: float = 0.0

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.runs if self.runs else None

    @property
    def cost_per_run(self) -> float | None:
        """Over the runs whose cost is known (a price unknown is not a cost of 0)."""
        return self.cost.mean if self.cost.n else None

    @property
    def margin_per_run(self) -> float | None:
        return (self.income - self.cost.total) / self.runs if self.runs else None


@dataclass
class Judgement:
    champion: Arm
    candidate: Arm
    alpha: float  # per look
    tests: dict[str, Comparison | None]  # candidate minus champion, one-sided "worse"
    worse: list[str]

    def describe(self) -> str:
        parts = []
        for name in self.worse:
            test = self.tests[name]
            parts.append(f"{GUARDRAILS[name]} {_shown(name, test.treatment)} vs {_shown(name, test.control)} "
                         f"(p = {test.p_value:.2g} < {self.alpha:.2g})")  # fmt: skip
        return "; ".join(parts)


def _shown(name: str, value: float) -> str:
    if name in ("failure_rate", "review_rejections", "concerns"):
        return f"{value:.1%}"
    return f"{value:,.0f} ms" if name == "duration" else f"{value:.4f}"


def rollout_arms(*, rollout: ModelRollout) -> tuple[Arm, Arm]:
    """(champion, candidate) figures over the rollout's tasks."""
    arms = {rollout.champion_id: Arm(rollout.champion_id), rollout.candidate_id: Arm(rollout.candidate_id)}
    with connection.cursor() as cursor:
        cursor.execute(ARMS_SQL, {"rollout": rollout.pk, "currency": settings.INCOME_CURRENCY,
                                  "since": _analysis_since(rollout)})  # fmt: skip
        for row in cursor.fetchall():
            arm = arms.get(row[0])
            if arm is None:
                continue
            arm.tasks, arm.runs, arm.successes, arm.failures = row[1:5]
            arm.duration, arm.p95_ms = Moments(row[5], row[6], row[7]), row[8]
            arm.cost = Moments(row[9], row[10], row[11])
            arm.reviewed, arm.rejected, arm.concerned, arm.income = row[12], row[13], row[14], float(row[15])
    return arms[rollout.champion_id], arms[rollout.candidate_id]


def _analysis_since(rollout: ModelRollout):
    return rollout.analysis_since or rollout.created_at


def rollout_judge(*, rollout: ModelRollout, champion: Arm, candidate: Arm) -> Judgement:
    """Every guardrail's one-sided test of "the candidate is worse", at alpha / (looks x guardrails): however
    many looks and metrics, the chance of holding a candidate that is as good stays under alpha."""
    alpha = float(rollout.alpha) / (rollout.looks_planned * max(1, len(rollout.guardrails)))
    tests = {
        "failure_rate": proportions_compare(control=(champion.failures, champion.runs),
                                            treatment=(candidate.failures, candidate.runs), alpha=alpha,
                                            alternative="larger"),
        "duration": means_compare(control=champion.duration, treatment=candidate.duration, alpha=alpha,
                                  alternative="greater"),
        "cost": means_compare(control=champion.cost, treatment=candidate.cost, alpha=alpha, alternative="greater"),
        "review_rejections": proportions_compare(control=(champion.rejected, champion.reviewed),
                                                 treatment=(candidate.rejected, candidate.reviewed), alpha=alpha,
                                                 alternative="larger"),
        "concerns": proportions_compare(control=(champion.concerned, champion.tasks),
                                        treatment=(candidate.concerned, candidate.tasks), alpha=alpha,
                                        alternative="larger"),
    }  # fmt: skip
    worse = [name for name in rollout.guardrails if tests.get(name) and tests[name].significant]
    return Judgement(champion, candidate, alpha, tests, worse)


@transaction.atomic
def rollout_create(*, task_type: TaskType, champion: AIModel, candidate: AIModel, steps: list[int], actor=None,
                   **design) -> ModelRollout:  # fmt: skip
    """Start a canary: the candidate takes the first step's share of the tasks that ask for the champion."""
    steps = _steps_check(steps)
    if champion.pk == candidate.pk:
        raise ValidationError({"candidate": "The candidate must be another model than the champion."})
    for role, model in (("champion", champion), ("candidate", candidate)):
        if not model.is_active:
            raise ValidationError({role: f"{model} is inactive."})
    if ModelRollout.objects.filter(task_type=task_type, status__in=ModelRollout.LIVE).exists():
        raise ValidationError({"task_type": f"{task_type} already has a rollout in progress; end it first."})
    rollout = ModelRollout(task_type=task_type, champion=champion, candidate=candidate, steps=steps,
                           candidate_percent=steps[0], salt=assignment_salt(), created_by=actor,
                           step_changed_at=timezone.now(), **design)  # fmt: skip
    if not rollout.guardrails:
        rollout.guardrails = list(DEFAULT_GUARDRAILS)
    unknown = sorted(set(rollout.guardrails) - set(GUARDRAILS))
    if unknown:
        raise ValidationError({"guardrails": f"Unknown guardrail(s) {', '.join(unknown)}; choose from "
                                             f"{', '.join(GUARDRAILS)}."})  # fmt: skip
    rollout.full_clean()
    rollout.save()
    audit_record(action="rollout.created", actor=actor, target=rollout,
                 summary=f"{candidate} takes {steps[0]}% of {task_type} from {champion}",
                 details={"steps": steps, "guardrails": rollout.guardrails, "horizon_runs": rollout.horizon_runs,
                          "looks_planned": rollout.looks_planned})  # fmt: skip
    return rollout


def _steps_check(steps: list[int]) -> list[int]:
    try:
        steps = [int(step) for step in steps]
    except (TypeError, ValueError) as error:
        raise ValidationError({"steps": "Steps are whole percentages, e.g. 5, 25, 50, 100."}) from error
    if not steps or any(not 1 <= step <= 100 for step in steps) or steps != sorted(set(steps)):
        raise ValidationError({"steps": "Steps are rising percentages between 1 and 100, e.g. 5, 25, 50, 100."})
    return steps


def _locked(rollout: ModelRollout) -> ModelRollout:
    return ModelRollout.objects.select_for_update().select_related("task_type").get(pk=rollout.pk)


@transaction.atomic
def rollout_step(*, rollout: ModelRollout, actor=None, percent: int | None = None) -> ModelRollout:
    """Give the candidate its next step's share (or `percent`)."""
    rollout = _locked(rollout)
    if rollout.status != Status.RUNNING:
        raise ValidationError(f"Rollout #{rollout.pk} is {rollout.get_status_display().lower()}: only a running "
                              "rollout steps.")  # fmt: skip
    following = [step for step in rollout.steps if step > rollout.candidate_percent]
    target = percent if percent is not None else (following[0] if following else None)
    if target is None or not 0 <= target <= 100:
        raise ValidationError(f"Rollout #{rollout.pk} is at its last step ({rollout.candidate_percent}%).")
    before, rollout.candidate_percent, rollout.step_changed_at = rollout.candidate_percent, target, timezone.now()
    rollout._change_reason = f"{before}% -> {target}%"
    rollout.save(update_fields=["candidate_percent", "step_changed_at"])
    audit_record(action="rollout.stepped", actor=actor, actor_label="" if actor else "scheduler", target=rollout,
                 summary=f"{rollout.candidate_id} share {before}% -> {target}%",
                 details={"from": before, "to": target})  # fmt: skip
    return rollout


@transaction.atomic
def rollout_hold(*, rollout: ModelRollout, reason: str, actor=None) -> ModelRollout:
    """Send every task to the champion again, and say why (guardrails or a person); operators hear of it."""
    rollout = _locked(rollout)
    if rollout.status != Status.RUNNING:
        raise ValidationError(f"Rollout #{rollout.pk} is {rollout.get_status_display().lower()}, not running.")
    rollout.status, rollout.status_reason = Status.HELD, reason
    rollout._change_reason = f"held: {reason}"[:100]
    rollout.save(update_fields=["status", "status_reason"])
    audit_record(action="rollout.held", actor=actor, actor_label="" if actor else "guardrails", target=rollout,
                 summary=f"champion only: {reason}", details={"reason": reason})  # fmt: skip
    if settings.ALERT_EMAILS:
        django_rq.get_queue("default").enqueue("apps.experiments.jobs.notify_rollout_held", rollout.pk,
                                               result_ttl=600)  # fmt: skip
    return rollout


@transaction.atomic
def rollout_resume(*, rollout: ModelRollout, actor=None) -> ModelRollout:
    """A held rollout gives the candidate its share again (after its fault is fixed)."""
    rollout = _locked(rollout)
    if rollout.status != Status.HELD:
        raise ValidationError(f"Rollout #{rollout.pk} is {rollout.get_status_display().lower()}, not held.")
    now = timezone.now()
    rollout.status, rollout.status_reason, rollout.step_changed_at = Status.RUNNING, "", now
    rollout.analysis_since, rollout.looks_done = now, 0  # the fixed candidate is judged on its own runs
    rollout._change_reason = "resumed"
    rollout.save(update_fields=["status", "status_reason", "step_changed_at", "analysis_since", "looks_done"])
    audit_record(action="rollout.resumed", actor=actor, target=rollout,
                 summary=f"{rollout.candidate_id} takes {rollout.candidate_percent}% again; its arms count afresh "
                         "from now")  # fmt: skip
    return rollout


def rollouts_watch() -> dict[str, int]:
    """The scheduler's part: a guardrail look for each running rollout that has earned one (holding it when the
    candidate is worse), then scheduled steps for the ones whose guardrails are fine. A rollout a person decided
    meanwhile is skipped, not an error for the others."""
    done = {"looks": 0, "held": 0, "stepped": 0}
    for rollout in ModelRollout.objects.filter(status=Status.RUNNING).select_related("task_type"):
        try:
            for outcome in _watch(rollout):
                done[outcome] += 1
        except ValidationError as changed:
            logger.info("rollout %s: %s", rollout.pk, "; ".join(changed.messages))
    return done


def _watch(rollout: ModelRollout) -> list[str]:
    # Finished runs per arm, counted through the rollout index; the full arms only when a look is due.
    finished = dict(
        ExecutionTask.objects.filter(rollout=rollout, created_at__gte=_analysis_since(rollout),
                                     status__in=[ExecutionTask.Status.SUCCEEDED, ExecutionTask.Status.FAILED])
        .values_list("ai_model").annotate(n=Count("id")).order_by()
    )  # fmt: skip
    runs = (finished.get(rollout.champion_id, 0), finished.get(rollout.candidate_id, 0))
    due = min(rollout.looks_planned, runs[1] * rollout.looks_planned // rollout.horizon_runs)
    outcomes = []
    if min(runs) >= settings.EXPERIMENTS_MIN_RUNS_PER_ARM and due > rollout.looks_done:
        claimed = ModelRollout.objects.filter(pk=rollout.pk, status=Status.RUNNING, looks_done__lt=due).update(
            looks_done=due, judged_at=timezone.now())  # overlapping runs: one looks
        if claimed:
            outcomes.append("looks")
            champion, candidate = rollout_arms(rollout=rollout)
            judgement = rollout_judge(rollout=rollout, champion=champion, candidate=candidate)
            if judgement.worse:
                rollout_hold(rollout=rollout, reason=f"guardrail look {due} of {rollout.looks_planned}: candidate "
                                                     f"worse on {judgement.describe()}")  # fmt: skip
                return [*outcomes, "held"]
            rollout.refresh_from_db()
    if _step_due(rollout):
        rollout_step(rollout=rollout)
        outcomes.append("stepped")
    return outcomes


def _step_due(rollout: ModelRollout) -> bool:
    """On schedule, and only after a look since the last step found the guardrails fine: a share is never
    raised unjudged (after the planned looks, steps are a person's)."""
    if not rollout.step_every_minutes or rollout.step_changed_at is None:
        return False
    if not any(step > rollout.candidate_percent for step in rollout.steps):
        return False
    if rollout.judged_at is None or rollout.judged_at < rollout.step_changed_at:
        return False
    return rollout.step_changed_at + timedelta(minutes=rollout.step_every_minutes) <= timezone.now()
