"""One way in for reports (service, command), the reviewers' decisions, and the execution block."""

import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, example, given, settings

from apps.execution.models import ExecutionControl, ExecutionTask
from apps.execution.services import execution_pause, execution_resume, task_create
from apps.proposals.models import Proposal
from apps.proposals.parser import FSARParseError
from apps.proposals.services import (
    proposal_accept,
    proposal_acknowledge,
    proposal_implemented,
    proposal_ingest,
    proposal_reject,
    proposal_tasks_create,
)

from .reports import SAMPLE, SAMPLE_ID, SAMPLE_PATH, report
from .test_parser import MUTATIONS, mutate

pytestmark = pytest.mark.django_db


def paused() -> bool:
    return ExecutionControl.objects.filter(paused=True).exists()


def test_importing_the_sample_gives_one_proposal_and_again_changes_nothing():
    first = proposal_ingest(data=SAMPLE_PATH.read_bytes(), source="file: report-sample.txt")
    assert first.outcome == "imported"
    proposal = Proposal.objects.get()
    assert proposal.report_id == SAMPLE_ID
    assert proposal.reported_at.isoformat() == "2026-01-02T01:18:13.741000+00:00"
    assert (proposal.severity, proposal.block_execution, proposal.category) == (6, False, "self_improvement")
    assert (len(proposal.risks), len(proposal.mitigations)) == (3, 3)
    assert proposal.body in SAMPLE and proposal.body.startswith("self_improvement:  To address")
    assert proposal.raw_text == SAMPLE and proposal.status == "new"

    again = proposal_ingest(data=SAMPLE_PATH.read_bytes(), source="file: copy.txt")
    assert (again.outcome, again.proposal.pk) == ("unchanged", proposal.pk)
    assert Proposal.objects.count() == 1 and Proposal.history.count() == 1
    assert Proposal.objects.get().source == "file: report-sample.txt"


def test_same_id_with_another_text_is_a_conflict_and_keeps_the_first():
    proposal_ingest(data=report(report_id=SAMPLE_ID, severity="3"), source="a")
    result = proposal_ingest(data=report(report_id=SAMPLE_ID, severity="9"), source="b")
    assert result.outcome == "conflict" and "already imported (from a) with another text" in result.detail
    assert Proposal.objects.get().severity == 3


def test_bad_report_writes_nothing():
    with pytest.raises(FSARParseError):
        proposal_ingest(data=report(severity="42", block_execution="true"), source="x")
    assert not Proposal.objects.exists() and not paused()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(MUTATIONS)
@example([("insert", 552, b"\x00")])  # once failed with PostgreSQL's DataError, not the parser's error
def test_mutated_reports_are_stored_whole_or_not_at_all(mutations):
    before = Proposal.objects.count()
    try:
        result = proposal_ingest(data=mutate(SAMPLE.encode(), mutations), source="hypothesis")
    except FSARParseError:
        assert Proposal.objects.count() == before
        return
    stored = Proposal.objects.get(pk=result.proposal.pk)
    assert stored.risks and stored.mitigations and stored.body and stored.raw_text


def test_command_imports_files_and_folders_and_reports_each_failure(tmp_path):
    folder = tmp_path / "reports"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.txt").write_text(report())
    (folder / "nested" / "b.md").write_text(report())
    (folder / "ignored.json").write_text("{}")
    (tmp_path / "bad.txt").write_text(report(timestamp="soon"))
    (tmp_path / "sample.txt").write_bytes(SAMPLE.encode())

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("import_proposals", folder, tmp_path / "sample.txt", tmp_path / "bad.txt", stdout=out, stderr=err)
    assert failed.value.returncode == 1 and str(failed.value) == "imported 3, unchanged 0, failed 1"
    assert "bad.txt: failed: line 3: timestamp: expected an ISO 8601 time" in err.getvalue()
    assert f"sample.txt: imported {SAMPLE_ID}" in out.getvalue()
    assert Proposal.objects.count() == 3

    out = io.StringIO()
    call_command("import_proposals", tmp_path / "sample.txt", stdout=out)
    assert f"unchanged {SAMPLE_ID}" in out.getvalue() and "imported 0, unchanged 1, failed 0" in out.getvalue()


def test_blocking_report_pauses_until_a_reviewer_acknowledges_it(reviewer, operator):
    proposal_ingest(data=report(block_execution="true", severity="9"), source="api: ai")
    control = ExecutionControl.objects.get()
    assert control.paused and control.pulled_by == "proposals" and "asks to block execution" in control.reason

    second = proposal_ingest(data=report(block_execution="true"), source="api: ai").proposal
    with pytest.raises(ValidationError, match="awaits a reviewer"):
        execution_resume(actor=operator, reason="let us go")  # an operator cannot override the block

    proposal_acknowledge(proposal=Proposal.objects.exclude(pk=second.pk).get(), reviewer=reviewer)
    assert paused()  # one blocking report is still unread
    proposal_reject(proposal=second, reviewer=reviewer, comment="false alarm")
    assert not paused()
    assert ExecutionControl.history.first().history_change_reason == "every blocking FSAR report has been reviewed"


def test_a_persons_pause_is_not_released_by_reviewing_reports(reviewer, operator):
    execution_pause(actor=operator, reason="maintenance")
    proposal = proposal_ingest(data=report(block_execution="true"), source="x").proposal
    assert ExecutionControl.objects.get().reason == "maintenance"
    proposal_acknowledge(proposal=proposal, reviewer=reviewer)
    assert paused()


def test_decisions_need_a_reviewer_and_a_reason_to_reject(operator, reviewer):
    proposal = proposal_ingest(data=report(), source="x").proposal
    with pytest.raises(PermissionDenied):
        proposal_accept(proposal=proposal, reviewer=operator)
    with pytest.raises(ValidationError, match="Say why"):
        proposal_reject(proposal=proposal, reviewer=reviewer, comment=" ")
    accepted = proposal_accept(proposal=proposal, reviewer=reviewer, comment="worth it")
    assert (accepted.status, accepted.decided_by, accepted.acknowledged_by) == ("accepted", reviewer, reviewer)
    with pytest.raises(ValidationError, match="accepted: it cannot become rejected"):
        proposal_reject(proposal=proposal, reviewer=reviewer, comment="changed my mind")


def test_accepted_report_becomes_linked_tasks_and_is_implemented_when_they_succeed(operator, reviewer, ai_model):
    proposal = proposal_ingest(data=report(), source="x").proposal
    with pytest.raises(ValidationError, match="only accepted reports"):
        proposal_tasks_create(proposal=proposal, task_type="self_improvement", ai_model=ai_model,
                              prompts=["x"], actor=operator)  # fmt: skip
    proposal_accept(proposal=proposal, reviewer=reviewer)
    ids = proposal_tasks_create(
        proposal=proposal, task_type="self_improvement", ai_model=ai_model,
        prompts=["Add stage timings", "", "Chart them"], actor=operator,
    )  # fmt: skip
    tasks = ExecutionTask.objects.filter(pk__in=ids).order_by("pk")
    assert [task.payload["prompt"] for task in tasks] == ["Add stage timings", "Chart them"]
    assert set(proposal.tasks.values_list("pk", flat=True)) == set(ids)
    assert all(task.ai_model_id == ai_model.name and task.created_by == operator for task in tasks)

    with pytest.raises(ValidationError, match="not every task has succeeded"):
        proposal_implemented(proposal=proposal, actor=reviewer)
    tasks.update(status="succeeded")
    done = proposal_implemented(proposal=proposal, actor=reviewer)
    assert done.status == "implemented" and done.lead_time == done.implemented_at - done.received_at


def test_tasks_for_a_report_are_all_or_nothing(operator, reviewer, ai_model):
    proposal = proposal_ingest(data=report(), source="x").proposal
    proposal_accept(proposal=proposal, reviewer=reviewer)
    with pytest.raises(ValidationError, match="ai_model"):
        proposal_tasks_create(proposal=proposal, task_type="self_improvement", ai_model="no-such-model",
                              prompts=["a", "b"], actor=operator)  # fmt: skip
    assert not ExecutionTask.objects.exists() and not proposal.tasks.exists()
    task_create(task_type="implement_idea", ai_model=ai_model)  # the failure left the database usable
