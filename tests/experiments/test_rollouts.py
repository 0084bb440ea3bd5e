"""Model rollouts end to end: new tasks that ask for the champion split between champion and candidate by a sticky
key (else the task id), a failing candidate held by the guardrail look that real workers run, no hold for a
candidate as good as the champion, promotion and rollback with their audit rows and window, and scheduled steps.
Real PostgreSQL, Redis and `rqworker` processes; the models' endpoints are local chat-completions servers."""

import time
from collections import Counter
from datetime import timedelta

import django_rq
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rq.cron import CronScheduler

from apps.auditlog.models import AuditLog
from apps.core.assignment import BUCKETS, bucket_of
from apps.execution.models import AIModel, ExecutionTask, ModelRollout, TaskType
from apps.execution.services import task_create, tasks_create_many
from apps.experiments.decisions import rollout_promote, rollout_rollback
from apps.experiments.rollouts import (
    rollout_arms,
    rollout_create,
    rollout_hold,
    rollout_resume,
    rollout_step,
    rollouts_watch,
)
from tests.conftest import token_client
from tests.execution.conftest import worker_start
from tests.execution.factories import AIModelFactory, TaskTypeFactory
from tests.fakes.chat_completions import ChatCompletionsServer, Reply

CHAMPION, CANDIDATE = "qwen-champion", "qwen-candidate"
MIN_RUNS = 20  # EXPERIMENTS_MIN_RUNS_PER_ARM, in the workers and in here
PER_ARM = 40  # finished runs per arm before the look: two blocks of horizon 60 / 3 looks


@pytest.fixture
def task_type():
    return TaskTypeFactory(slug="code_review")


@pytest.fixture
def champion():
    return AIModelFactory(name=CHAMPION)


@pytest.fixture
def candidate():
    return AIModelFactory(name=CANDIDATE)


def rollout_on(task_type, champion, candidate, *, steps, actor=None, **design) -> ModelRollout:
    return rollout_create(task_type=task_type, champion=champion, candidate=candidate, steps=steps, actor=actor,
                          **design)  # fmt: skip


def tasks_of(ids: list[int]) -> list[ExecutionTask]:
    """The tasks in the order of `ids` (the order their payloads and keys were given in)."""
    by_id = ExecutionTask.objects.in_bulk(ids)
    return [by_id[task_id] for task_id in ids]


def candidate_share(tasks: list[ExecutionTask]) -> float:
    return sum(task.ai_model_id == CANDIDATE for task in tasks) / len(tasks)


def rollout_actions(rollout: ModelRollout) -> list[tuple]:
    rows = AuditLog.objects.filter(object_type="execution.modelrollout", object_id=str(rollout.pk)).order_by("id")
    return list(rows.values_list("action", "actor__username", "actor_label"))


# Routing ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_quarter_of_the_champions_tasks_go_to_the_candidate_and_each_key_keeps_its_arm(
    task_type, champion, candidate, operator, monkeypatch
):
    # One salt every run: a random one puts 2,000 keys within 25 +- 3 % only 99.8 % of the time (3.1 sigma).
    monkeypatch.setattr("apps.experiments.rollouts.assignment_salt", lambda: "5eed5eed5eed5eed")
    rollout = rollout_on(task_type, champion, candidate, steps=[25, 50, 100], actor=operator)
    keys = [f"customer-{n}" for n in range(2000)]
    first = tasks_of(tasks_create_many(task_type=task_type, ai_model=champion, payloads=[{}] * 2000,
                                       assignment_keys=keys))  # fmt: skip

    assert 0.22 <= candidate_share(first) <= 0.28
    for task in first:
        arm = "candidate" if task.ai_model_id == CANDIDATE else "champion"
        assert task.ai_model_id in (CHAMPION, CANDIDATE)
        assert (task.requested_ai_model, task.rollout_id) == (CHAMPION, rollout.pk)
        assert task.model_assignment == f"rollout #{rollout.pk} at 25%: {arm}"

    again = tasks_of(tasks_create_many(task_type=task_type, ai_model=champion, payloads=[{}] * 2000,
                                       assignment_keys=keys))  # fmt: skip
    assert {task.id for task in again}.isdisjoint(task.id for task in first)  # new tasks, same subjects
    assert [task.ai_model_id for task in again] == [task.ai_model_id for task in first]

    by_task_id = tasks_of(tasks_create_many(task_type=task_type, ai_model=champion, payloads=[{}] * 2000))
    assert 0.20 <= candidate_share(by_task_id) <= 0.30
    assert {task.rollout_id for task in by_task_id} == {rollout.pk}


@pytest.mark.django_db
def test_a_task_without_a_key_is_assigned_by_the_id_it_is_created_with(task_type, champion, candidate):
    rollout = rollout_on(task_type, champion, candidate, steps=[50, 100])
    keys = [None, "customer-1", "", None, "customer-2", None] * 20
    tasks = tasks_of(tasks_create_many(task_type=task_type, ai_model=champion, payloads=[{}] * 120,
                                       assignment_keys=keys))  # fmt: skip
    tasks.append(task_create(task_type=task_type, ai_model=champion, payload={}))
    for key, task in zip([*keys, None], tasks, strict=True):
        subject = key or f"task:{task.id}"
        expected = CANDIDATE if bucket_of(salt=rollout.salt, subject=subject) < 50 * BUCKETS // 100 else CHAMPION
        assert task.ai_model_id == expected, (key, task.id)


@pytest.mark.django_db
def test_an_inactive_candidate_takes_no_tasks(task_type, champion, candidate):
    rollout = rollout_on(task_type, champion, candidate, steps=[100])
    AIModel.objects.filter(name=CANDIDATE).update(is_active=False)
    tasks = tasks_of(tasks_create_many(task_type=task_type, ai_model=champion, payloads=[{}] * 50))
    assert {(task.ai_model_id, task.model_assignment) for task in tasks} == {
        (CHAMPION, f"rollout #{rollout.pk}: candidate {CANDIDATE} is inactive")
    }


@pytest.mark.django_db
def test_tasks_asking_for_another_model_are_left_alone_by_the_rollout(task_type, champion, candidate):
    rollout_on(task_type, champion, candidate, steps=[25, 50, 100])
    other = AIModelFactory(name="llama-other")
    tasks = tasks_of(tasks_create_many(task_type=task_type, ai_model=other, payloads=[{}] * 200,
                                       assignment_keys=[f"customer-{n}" for n in range(200)]))  # fmt: skip
    assert {(t.ai_model_id, t.requested_ai_model, t.model_assignment, t.rollout_id) for t in tasks} == {
        ("llama-other", "llama-other", "as requested", None)
    }
    elsewhere = TaskTypeFactory(slug="other_work")  # the champion on a type without a rollout
    task = task_create(task_type=elsewhere, ai_model=champion, payload={}, assignment_key="customer-1")
    assert (task.ai_model_id, task.model_assignment, task.rollout_id) == (CHAMPION, "as requested", None)


@pytest.mark.django_db
def test_a_task_created_through_the_api_with_a_key_shows_what_it_asked_for_and_why(
    task_type, champion, candidate, operator
):
    rollout = rollout_on(task_type, champion, candidate, steps=[25, 50, 100])
    [same_key] = tasks_of(tasks_create_many(task_type=task_type, ai_model=champion, payloads=[{}],
                                            assignment_keys=["customer-42"]))  # fmt: skip
    response = token_client(operator).post("/api/tasks/", {"task_type": task_type.slug, "ai_model": CHAMPION,
                                                           "payload": {"prompt": "review"},
                                                           "assignment_key": "customer-42"}, format="json")  # fmt: skip
    assert response.status_code == 201, response.json()
    shown = response.json()
    arm = "candidate" if same_key.ai_model_id == CANDIDATE else "champion"
    assert (shown["ai_model"], shown["requested_ai_model"]) == (same_key.ai_model_id, CHAMPION)
    assert shown["model_assignment"] == f"rollout #{rollout.pk} at 25%: {arm}"
    refused = token_client(operator).post(
        "/api/tasks/",
        {"task_type": task_type.slug, "ai_model": CHAMPION, "assignment_key": ["not", "a", "string"]},
        format="json",
    )
    assert refused.status_code == 400
    assert "assignment_key must be a string" in refused.json()["assignment_key"][0]


# Guardrails through real workers ---------------------------------------------------------------------------
# One run of real workers serves two rollouts side by side, so that the same look both holds a failing candidate
# and leaves one as good as the champion running (worker start-up is most of the cost).

GOOD_CANDIDATE = "qwen-candidate-good"


@pytest.fixture
def endpoints():
    """Local chat-completions servers: the champion's and the good candidate's answer, the candidate's fails."""
    servers = {CHAMPION: [Reply()], CANDIDATE: [Reply(status=500)], GOOD_CANDIDATE: [Reply()]}
    servers = {name: ChatCompletionsServer(replies=replies).start() for name, replies in servers.items()}
    yield servers
    for server in servers.values():
        server.stop()


def chat_model(name: str, server: ChatCompletionsServer) -> AIModel:
    return AIModelFactory(name=name, provider=AIModel.Provider.OPENAI_COMPATIBLE, base_url=server.base_url,
                          api_key_env="TEST_QWEN_API_KEY", input_price_per_million="2.00",
                          output_price_per_million="6.00")  # fmt: skip


def chat_canary(slug: str, champion: AIModel, candidate: AIModel, actor) -> ModelRollout:
    """A rollout at 50% on a type that never retries, with PER_ARM queued tasks in each arm."""
    task_type = TaskTypeFactory(slug=slug, executor="openai_compatible", max_attempts=1, timeout_seconds=5)
    rollout = rollout_on(task_type, champion, candidate, steps=[50, 100], actor=actor, horizon_runs=60,
                         looks_planned=3)  # fmt: skip
    keys = balanced_keys(rollout, PER_ARM)
    tasks = tasks_of(tasks_create_many(task_type=task_type, ai_model=champion, created_by=actor,
                                       payloads=[{"prompt": f"review for {key}"} for key in keys],
                                       assignment_keys=keys))  # fmt: skip
    assert Counter(task.ai_model_id for task in tasks) == {champion.name: PER_ARM, candidate.name: PER_ARM}
    assert {task.status for task in tasks} == {ExecutionTask.Status.QUEUED}
    return rollout


def balanced_keys(rollout: ModelRollout, per_arm: int) -> list[str]:
    """Customer keys of which `per_arm` fall in each arm by the documented rule (bucket below the share)."""
    threshold = rollout.candidate_percent * BUCKETS // 100
    arms: dict[bool, list[str]] = {True: [], False: []}
    for n in range(10_000):
        key = f"customer-{n}"
        arm = arms[bucket_of(salt=rollout.salt, subject=key) < threshold]
        if len(arm) < per_arm:
            arm.append(key)
        if all(len(keys) == per_arm for keys in arms.values()):
            return arms[True] + arms[False]
    raise AssertionError("not enough keys in one arm")


def workers_run(count: int, **env: str) -> list[str]:
    """`count` real burst workers side by side until the queue is empty; their output (e-mails go to stdout)."""
    env = {"EXPERIMENTS_MIN_RUNS_PER_ARM": str(MIN_RUNS), "TEST_QWEN_API_KEY": "sk-test", **env}
    workers = [worker_start(**env) for _ in range(count)]
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output
    return outputs


def guardrail_job_run() -> tuple[str, float]:
    """The cron's guardrail job, queued as the scheduler queues it and run by a real worker that sends e-mail to
    the console; its output and how long the look took, worker start included."""
    django_rq.get_queue("default").enqueue("apps.experiments.jobs.watch_rollouts", result_ttl=600)
    started = time.monotonic()
    [output] = workers_run(1, ALERT_EMAILS="ops@example.com",
                           EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend")  # fmt: skip
    return output, time.monotonic() - started


def finish_times(rollout: ModelRollout, ai_model: str, status: str) -> list:
    runs = ExecutionTask.objects.filter(rollout=rollout, ai_model=ai_model, status=status).order_by("finished_at")
    return list(runs.values_list("finished_at", flat=True))


def test_the_scheduler_queues_the_guardrail_look_every_configured_interval(redis_test_db, settings):
    scheduler = CronScheduler(connection=redis_test_db)
    scheduler.load_config_from_file("opsconsole.cron")
    [job] = [job for job in scheduler.get_jobs() if job.name == "rollout-guardrails"]
    assert job.func_name == "apps.experiments.jobs.watch_rollouts"
    assert job.interval == settings.EXPERIMENTS_GUARDRAIL_INTERVAL_SECONDS


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_guardrail_look_holds_a_failing_candidate_and_not_one_as_good_as_the_champion(
    endpoints, operator, settings
):
    settings.EXPERIMENTS_MIN_RUNS_PER_ARM = MIN_RUNS
    champion = chat_model(CHAMPION, endpoints[CHAMPION])
    failing = chat_canary("chat_review", champion, chat_model(CANDIDATE, endpoints[CANDIDATE]), operator)
    good = chat_canary("chat_summary", champion, chat_model(GOOD_CANDIDATE, endpoints[GOOD_CANDIDATE]), operator)
    workers_run(2)
    output, look_seconds = guardrail_job_run()

    failing.refresh_from_db()
    assert failing.status == ModelRollout.Status.HELD
    assert failing.status_reason.startswith("guardrail look 2 of 3: candidate worse on failure rate 100.0% vs 0.0%")
    held = AuditLog.objects.get(action="rollout.held")
    assert (held.object_id, held.actor, held.actor_label) == (str(failing.pk), None, "guardrails")
    assert f"rollout #{failing.pk} held: {CANDIDATE} on chat_review" in output  # the e-mail to ALERT_EMAILS
    assert failing.status_reason in output

    good.refresh_from_db()  # no false alarm: it was looked at and found as good
    assert (good.status, good.status_reason, good.looks_done) == (ModelRollout.Status.RUNNING, "", 2)
    assert len(finish_times(good, GOOD_CANDIDATE, "succeeded")) == PER_ARM
    assert f"rollout #{good.pk} held" not in output

    # In production the look is due once the candidate's 20th run (one horizon / looks block) and the champion's
    # 20th have finished; the cron queues a look at least once per interval, and the look then takes its time.
    failures, successes = finish_times(failing, CANDIDATE, "failed"), finish_times(failing, CHAMPION, "succeeded")
    assert (len(failures), len(successes)) == (PER_ARM, PER_ARM)
    due_at = max(failures[MIN_RUNS - 1], successes[MIN_RUNS - 1])
    allowed = timedelta(seconds=settings.EXPERIMENTS_GUARDRAIL_INTERVAL_SECONDS + look_seconds)
    assert held.created_at - failures[0] < allowed, (held.created_at - failures[0], look_seconds)
    assert held.created_at - due_at < allowed, (held.created_at - due_at, look_seconds)

    after = tasks_of(tasks_create_many(task_type=failing.task_type, ai_model=champion, payloads=[{}] * 200))
    assert {(t.ai_model_id, t.requested_ai_model, t.model_assignment, t.rollout_id) for t in after} == {
        (CHAMPION, CHAMPION, f"rollout #{failing.pk} held: champion only", failing.pk)
    }


# Deciding --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_promotion_then_rollback_moves_the_default_model_and_the_routing_and_audits_every_step(
    champion, candidate, operator
):
    task_type = TaskTypeFactory(slug="code_review", default_ai_model=champion)
    rollout = rollout_on(task_type, champion, candidate, steps=[5, 25, 50, 100], actor=operator)
    rollout_step(rollout=rollout, actor=operator)
    rollout_hold(rollout=rollout, reason="reviews read worse", actor=operator)
    on_hold = task_create(task_type=task_type, ai_model=champion, payload={}, assignment_key="customer-1")
    assert (on_hold.ai_model_id, on_hold.model_assignment) == (CHAMPION, f"rollout #{rollout.pk} held: champion only")
    rollout_resume(rollout=rollout, actor=operator)

    rollout_promote(rollout=rollout, actor=operator)
    assert TaskType.objects.get(pk=task_type.pk).default_ai_model_id == CANDIDATE
    asked = task_create(task_type=task_type.slug, ai_model=champion, payload={}, assignment_key="customer-1")
    unnamed = task_create(task_type=task_type.slug, ai_model=None, payload={})
    assert (asked.ai_model_id, asked.requested_ai_model, asked.rollout_id) == (CANDIDATE, CHAMPION, rollout.pk)
    assert asked.model_assignment == f"rollout #{rollout.pk} promoted {CANDIDATE} over {CHAMPION}"
    assert (unnamed.ai_model_id, unnamed.requested_ai_model) == (CANDIDATE, CANDIDATE)

    rollout_rollback(rollout=rollout, actor=operator, reason="customers preferred the old reviews")
    rollout.refresh_from_db()
    assert (rollout.status, rollout.status_reason) == ("rolled_back", "customers preferred the old reviews")
    assert TaskType.objects.get(pk=task_type.pk).default_ai_model_id == CHAMPION
    for task in (task_create(task_type=task_type.slug, ai_model=champion, payload={}, assignment_key="customer-1"),
                 task_create(task_type=task_type.slug, ai_model=None, payload={})):  # fmt: skip
        assert (task.ai_model_id, task.requested_ai_model, task.model_assignment) == (CHAMPION, CHAMPION,
                                                                                       "as requested")  # fmt: skip

    assert rollout_actions(rollout) == [
        (action, "olga-operator", "olga-operator")
        for action in ("rollout.created", "rollout.stepped", "rollout.held", "rollout.resumed", "rollout.promoted",
                       "rollout.rolled_back")
    ]  # fmt: skip


@pytest.mark.django_db
def test_a_decision_can_be_reversed_until_the_window_closes_then_is_refused(champion, candidate, operator, settings):
    task_type = TaskTypeFactory(slug="code_review", default_ai_model=champion)
    rollout = rollout_on(task_type, champion, candidate, steps=[5, 25, 50, 100], actor=operator)
    rollout_promote(rollout=rollout, actor=operator)
    rollout_rollback(rollout=rollout, actor=operator)
    rollout_promote(rollout=rollout, actor=operator)  # changed our mind again, inside the window
    window = timedelta(hours=settings.EXPERIMENTS_ROLLBACK_WINDOW_HOURS)
    ModelRollout.objects.filter(pk=rollout.pk).update(decided_at=timezone.now() - window - timedelta(minutes=1))
    audited = AuditLog.objects.count()

    with pytest.raises(ValidationError) as refused:
        rollout_rollback(rollout=rollout, actor=operator)
    assert f"Rollout #{rollout.pk}'s rollback window closed at" in refused.value.messages[0]
    assert "start a new experiment to change it again" in refused.value.messages[0]
    assert ModelRollout.objects.get(pk=rollout.pk).status == ModelRollout.Status.PROMOTED
    assert TaskType.objects.get(pk=task_type.pk).default_ai_model_id == CANDIDATE
    assert AuditLog.objects.count() == audited


@pytest.mark.django_db
def test_a_rolled_back_rollout_cannot_be_promoted_after_its_window(task_type, champion, candidate, settings):
    rollout = rollout_on(task_type, champion, candidate, steps=[5, 100])
    rollout_rollback(rollout=rollout, reason="not now")
    window = timedelta(hours=settings.EXPERIMENTS_ROLLBACK_WINDOW_HOURS)
    ModelRollout.objects.filter(pk=rollout.pk).update(decided_at=timezone.now() - window - timedelta(seconds=1))

    with pytest.raises(ValidationError, match="rollback window closed"):
        rollout_promote(rollout=rollout)
    assert ModelRollout.objects.get(pk=rollout.pk).status == ModelRollout.Status.ROLLED_BACK
    assert TaskType.objects.get(pk=task_type.pk).default_ai_model_id is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"candidate": CHAMPION}, "candidate"),
        ({"candidate": "retired-model"}, "candidate"),
        ({"champion": "retired-model"}, "champion"),
        ({"steps": [50, 25]}, "steps"),
        ({"steps": [25, 25, 50]}, "steps"),
        ({"steps": [0, 50]}, "steps"),
        ({"steps": [101]}, "steps"),
        ({"steps": []}, "steps"),
        ({"steps": ["half"]}, "steps"),
        ({"guardrails": ["vibes"]}, "guardrails"),
    ],
)
def test_a_rollout_that_cannot_work_is_refused_and_nothing_is_written(task_type, champion, candidate, change, field):
    AIModelFactory(name="retired-model", is_active=False)
    given = {"champion": CHAMPION, "candidate": CANDIDATE, "steps": [5, 25, 50, 100], **change}
    models = {name: AIModel.objects.get(name=given[name]) for name in ("champion", "candidate")}
    audited = AuditLog.objects.count()
    with pytest.raises(ValidationError) as refused:
        rollout_create(task_type=task_type, actor=None, **{**given, **models})
    assert field in refused.value.message_dict
    assert (ModelRollout.objects.count(), AuditLog.objects.count()) == (0, audited)


@pytest.mark.django_db
@pytest.mark.parametrize("held", [False, True])
def test_a_second_live_rollout_on_the_same_type_is_refused(task_type, champion, candidate, held):
    first = rollout_on(task_type, champion, candidate, steps=[5, 100])
    if held:
        rollout_hold(rollout=first, reason="looking into it")
    audited = AuditLog.objects.count()
    with pytest.raises(ValidationError) as refused:
        rollout_on(task_type, champion, AIModelFactory(name="qwen-third"), steps=[5, 100])
    assert "already has a rollout in progress" in refused.value.message_dict["task_type"][0]
    assert (ModelRollout.objects.count(), AuditLog.objects.count()) == (1, audited)


# Scheduled steps -------------------------------------------------------------------------------------------


def finished_runs(rollout: ModelRollout, model: str, count: int, *, status: str = "succeeded") -> None:
    """Runs the engine finished for the rollout's arm (set up directly: the routing is tested above)."""
    now = timezone.now()
    ExecutionTask.objects.bulk_create(
        ExecutionTask(task_type=rollout.task_type, ai_model_id=model, requested_ai_model=CHAMPION, rollout=rollout,
                      status=status, attempts=1, started_at=now, finished_at=now, duration_ms=900, payload={})
        for _ in range(count)
    )  # fmt: skip


@pytest.mark.django_db
def test_the_watch_steps_only_once_the_interval_has_passed_and_a_look_found_the_guardrails_fine(
    task_type, champion, candidate
):
    rollout = rollout_on(task_type, champion, candidate, steps=[5, 25, 50, 100], step_every_minutes=30,
                         horizon_runs=40, looks_planned=2)  # fmt: skip
    assert rollouts_watch() == {"looks": 0, "held": 0, "stepped": 0}  # not due yet

    ModelRollout.objects.filter(pk=rollout.pk).update(step_changed_at=timezone.now() - timedelta(minutes=31))
    assert rollouts_watch() == {"looks": 0, "held": 0, "stepped": 0}  # due, but nobody has judged this share
    finished_runs(rollout, CHAMPION, 20)
    finished_runs(rollout, CANDIDATE, 20)
    assert rollouts_watch() == {"looks": 1, "held": 0, "stepped": 1}  # look 1 of 2: fine, so the step
    rollout.refresh_from_db()
    assert (rollout.candidate_percent, rollout.looks_done) == (25, 1)
    assert timezone.now() - rollout.step_changed_at < timedelta(minutes=1)
    stepped = AuditLog.objects.get(action="rollout.stepped", object_id=str(rollout.pk))
    assert (stepped.actor, stepped.actor_label, stepped.details) == (None, "scheduler", {"from": 5, "to": 25})
    assert rollouts_watch()["stepped"] == 0  # the next step waits another 30 minutes (and another look)

    task = task_create(task_type=task_type, ai_model=champion, payload={}, assignment_key="customer-1")
    assert task.model_assignment.startswith(f"rollout #{rollout.pk} at 25%: ")


@pytest.mark.django_db
def test_a_resumed_rollout_is_judged_on_the_runs_since_it_resumed(task_type, champion, candidate, operator):
    rollout = rollout_on(task_type, champion, candidate, steps=[50, 100], horizon_runs=40, looks_planned=2)
    finished_runs(rollout, CHAMPION, 20)
    finished_runs(rollout, CANDIDATE, 20, status="failed")
    assert rollouts_watch()["held"] == 1
    rollout_resume(rollout=ModelRollout.objects.get(pk=rollout.pk), actor=operator)  # the candidate was fixed

    rollout.refresh_from_db()
    champion_arm, candidate_arm = rollout_arms(rollout=rollout)
    assert (champion_arm.runs, candidate_arm.runs, rollout.looks_done) == (0, 0, 0)
    assert rollouts_watch()["held"] == 0  # its old failures do not hold it again
    rollout_hold(rollout=rollout, reason="again", actor=operator)
    with pytest.raises(ValidationError, match="resume it and let it be judged again"):  # held: not promoted
        rollout_promote(rollout=rollout, actor=operator)


@pytest.mark.django_db
def test_a_promoted_rollout_is_not_reversed_under_a_newer_live_one(task_type, champion, candidate, operator):
    first = rollout_on(task_type, champion, candidate, steps=[5, 100], actor=operator)
    rollout_promote(rollout=first, actor=operator)
    rollout_on(task_type, candidate, AIModelFactory(name="qwen-third"), steps=[5, 100], actor=operator)
    with pytest.raises(ValidationError, match="is in progress on this task type"):
        rollout_rollback(rollout=first, actor=operator)
    assert ModelRollout.objects.get(pk=first.pk).status == ModelRollout.Status.PROMOTED


@pytest.mark.django_db
def test_a_held_rollout_takes_no_scheduled_step(task_type, champion, candidate):
    rollout = rollout_on(task_type, champion, candidate, steps=[5, 25], step_every_minutes=30)
    rollout_hold(rollout=rollout, reason="looking into it")
    ModelRollout.objects.filter(pk=rollout.pk).update(step_changed_at=timezone.now() - timedelta(hours=2))
    assert rollouts_watch()["stepped"] == 0
    assert ModelRollout.objects.get(pk=rollout.pk).candidate_percent == 5
