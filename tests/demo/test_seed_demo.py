"""`manage.py seed_demo`: demo data that fills every page, idempotent, refused outside development."""

import pytest
from django.core.management import CommandError, call_command

from apps.execution.models import AIModel, ExecutionControl, ExecutionEvent, ExecutionTask
from apps.income.models import IncomeEvent, TaskRollup
from apps.offers.models import OfferTemplate
from apps.proposals.models import Proposal
from apps.safety.models import AuditRun, Concern

pytestmark = pytest.mark.django_db


def seed(capsys, *args) -> str:
    call_command("seed_demo", *args)
    return capsys.readouterr().out


def test_demo_data_fills_every_kind_of_row_and_a_second_run_adds_nothing(settings, capsys):
    settings.DEBUG = True
    first = seed(capsys, "--tasks", "600")
    assert "tasks  [##############################] 600/600" in first  # progress
    assert "Created user `demo-operator` with password:" in first
    demo = ExecutionTask.objects.filter(payload__has_key="demo")
    statuses = set(demo.values_list("status", flat=True))
    assert {"succeeded", "failed", "needs_review"} <= statuses
    # the review backlog (24), tasks of a type nobody rated (2), sold work with risky payloads (2 of 3)
    assert demo.filter(status="needs_review").count() == 28
    assert Concern.objects.filter(status="open").count() == 2 and AuditRun.objects.filter(passed=True).count() == 2
    assert ExecutionEvent.objects.filter(kind="retried").exists() and ExecutionEvent.objects.count() > 4 * 600
    assert IncomeEvent.objects.filter(kind="payment", task__isnull=False).exists()
    assert TaskRollup.objects.exists()  # the rollup triggers saw the rows
    assert OfferTemplate.objects.count() == 3 and AIModel.objects.count() == 4
    assert Proposal.objects.count() == 30 and Proposal.objects.blocking().count() == 1
    assert ExecutionControl.objects.get().paused  # the blocking report holds execution
    counts = (ExecutionTask.objects.count(), ExecutionEvent.objects.count(), IncomeEvent.objects.count())

    second = seed(capsys, "--tasks", "600")
    assert "Tasks: skipped" in second and "Reports: 0 imported, 30 skipped" in second
    assert "Review backlog: skipped" in second and "AI models: skipped" in second
    assert "Safety: 0 tasks, 0 concerns, 0 audit runs added" in second
    assert (ExecutionTask.objects.count(), ExecutionEvent.objects.count(), IncomeEvent.objects.count()) == counts


def test_basics_only_make_sure_the_echo_model_exists(settings, capsys):
    settings.DEBUG = True
    assert "Created the `echo` AI model" in seed(capsys, "--basics")
    assert seed(capsys, "--basics") == ""
    assert list(AIModel.objects.values_list("name", "provider")) == [("echo", "echo")]
    assert not ExecutionTask.objects.exists()


def test_refused_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="refusing to write demo data while DEBUG is off"):
        call_command("seed_demo", "--basics")
    assert not AIModel.objects.exists()
