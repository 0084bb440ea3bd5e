"""Proposals: one way in for reports (command, API, admin upload) and the reviewers' decisions on them."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from apps.execution.models import ExecutionTask
from apps.execution.services import Hold, execution_pause, execution_release, tasks_create_many

from .models import Proposal
from .parser import FSARParseError, fsar_decode, fsar_parse

PULLED_BY = "proposals"
REVIEW_PERMISSION = "proposals.review_proposal"
Status = Proposal.Status


@dataclass(frozen=True)
class IngestResult:
    outcome: str  # "imported", "unchanged" or "conflict"
    proposal: Proposal
    detail: str = ""


def proposal_ingest(*, data: bytes | str, source: str) -> IngestResult:
    """Store a report once. The same id with the same text changes nothing; the same id with another text is a
    conflict and keeps the first. A report asking to block execution pauses it, in the same transaction.
    Raises FSARParseError (nothing written) for a report that does not parse or is over the size limit."""
    report_size_check(len(data.encode() if isinstance(data, str) else data))
    text = fsar_decode(data)
    parsed = fsar_parse(text)
    existing = Proposal.objects.filter(report_id=parsed.report_id).first()
    if existing is not None:
        return _known(existing, text)
    try:
        with transaction.atomic():
            proposal = Proposal.objects.create(
                report_id=parsed.report_id, reported_at=parsed.reported_at, severity=parsed.severity,
                block_execution=parsed.block_execution, category=parsed.category, body=parsed.body,
                risks=parsed.risks, mitigations=parsed.mitigations, raw_text=text, source=source[:300],
            )  # fmt: skip
            if proposal.block_execution:
                execution_pause(
                    actor=None,
                    reason=f"FSAR report {proposal.report_id} (severity {proposal.severity}) asks to block execution",
                    pulled_by=PULLED_BY,
                )
    except IntegrityError:  # the same report arrived at the same moment through another door
        return _known(Proposal.objects.get(report_id=parsed.report_id), text)
    except DataError as error:  # a value the parser let through but PostgreSQL cannot hold: still the report's fault
        raise FSARParseError(f"a value cannot be stored: {str(error).splitlines()[0]}") from error
    return IngestResult("imported", proposal)


def report_size_check(size: int) -> None:
    """Refuse a report over PROPOSALS_REPORT_MAX_BYTES: its page would be megabytes of HTML for a reviewer."""
    limit = settings.PROPOSALS_REPORT_MAX_BYTES
    if size > limit:
        raise FSARParseError(
            f"the report is {size:,} bytes; the limit is {limit:,} bytes (PROPOSALS_REPORT_MAX_BYTES)", field="size"
        )


def _known(existing: Proposal, text: str) -> IngestResult:
    if existing.raw_text == text:
        return IngestResult("unchanged", existing)
    return IngestResult(
        "conflict", existing, f"{existing.report_id} was already imported (from {existing.source}) with another text"
    )


def blocking_proposals_hold() -> list[Hold]:
    """For the execution switch: blocking reports no reviewer has looked at keep execution paused."""
    reports = Proposal.objects.blocking().values_list("pk", "report_id")[:5]
    return [Hold(f"blocking FSAR report {report_id} awaits a reviewer", "admin:proposals_proposal_change", pk,
                 view_permission="proposals.view_proposal") for pk, report_id in reports]  # fmt: skip


def _reviewer_check(reviewer) -> None:
    if not reviewer.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied(f"{reviewer} is not a reviewer (Reviewers group)")


def _decide(*, proposal: Proposal, reviewer, to: str, allowed_from: tuple[str, ...], comment: str, **fields):
    _reviewer_check(reviewer)
    with transaction.atomic():
        locked = Proposal.objects.select_for_update().get(pk=proposal.pk)
        if locked.status not in allowed_from:
            raise ValidationError(f"{locked.report_id} is {locked.status}: it cannot become {to}")
        now = timezone.now()
        if locked.acknowledged_at is None:  # any decision means someone has looked at it
            locked.acknowledged_by, locked.acknowledged_at = reviewer, now
        for name, value in fields.items():
            setattr(locked, name, now if value == "now" else value)
        locked.status = to
        if comment:
            locked.reviewer_comment = comment
        locked._change_reason = f"{to} by {reviewer}" + (f": {comment}" if comment else "")
        locked.save()
        if locked.block_execution:
            execution_release(
                pulled_by=PULLED_BY, actor=reviewer, reason="every blocking FSAR report has been reviewed"
            )
    return locked


def proposal_acknowledge(*, proposal: Proposal, reviewer, comment: str = "") -> Proposal:
    """A reviewer has looked at it (this alone releases the execution block)."""
    return _decide(proposal=proposal, reviewer=reviewer, to=Status.ACKNOWLEDGED, allowed_from=(Status.NEW,),
                   comment=comment)  # fmt: skip


def proposal_accept(*, proposal: Proposal, reviewer, comment: str = "") -> Proposal:
    """Accepted: it may now be turned into execution tasks."""
    return _decide(proposal=proposal, reviewer=reviewer, to=Status.ACCEPTED,
                   allowed_from=(Status.NEW, Status.ACKNOWLEDGED), comment=comment,
                   decided_by=reviewer, decided_at="now")  # fmt: skip


def proposal_reject(*, proposal: Proposal, reviewer, comment: str) -> Proposal:
    """Rejected, with the reason."""
    if not (comment or "").strip():
        raise ValidationError({"comment": "Say why the proposal is rejected."})
    return _decide(proposal=proposal, reviewer=reviewer, to=Status.REJECTED,
                   allowed_from=(Status.NEW, Status.ACKNOWLEDGED), comment=comment,
                   decided_by=reviewer, decided_at="now")  # fmt: skip


@transaction.atomic
def proposal_tasks_create(
    *, proposal: Proposal, task_type, ai_model, prompts: list[str], priority: int = 0, actor
) -> list[int]:
    """Turn an accepted report into execution tasks (one per prompt), linked back to it."""
    proposal = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if proposal.status != Status.ACCEPTED:
        raise ValidationError(f"{proposal.report_id} is {proposal.status}: only accepted reports become tasks")
    prompts = [prompt.strip() for prompt in prompts if prompt.strip()]
    if not prompts:
        raise ValidationError({"prompts": "Give at least one prompt (one task per line)."})
    payloads = [{"prompt": prompt, "proposal": proposal.report_id} for prompt in prompts]
    ids = tasks_create_many(
        task_type=task_type, ai_model=ai_model, payloads=payloads, priority=priority, created_by=actor
    )
    proposal.tasks.add(*ids)
    return ids


def proposal_implemented(*, proposal: Proposal, actor) -> Proposal:
    """Close an accepted report whose tasks have all succeeded, recording its lead time."""
    with transaction.atomic():
        locked = Proposal.objects.select_for_update().get(pk=proposal.pk)
        if locked.status != Status.ACCEPTED:
            raise ValidationError(f"{locked.report_id} is {locked.status}: only accepted reports can be implemented")
        statuses = set(locked.tasks.values_list("status", flat=True))
        if not statuses:
            raise ValidationError(f"{locked.report_id} has no tasks yet")
        if statuses != {ExecutionTask.Status.SUCCEEDED}:
            raise ValidationError(
                f"{locked.report_id}: not every task has succeeded yet ({', '.join(sorted(statuses))})"
            )
        now = timezone.now()
        locked.status, locked.implemented_by, locked.implemented_at = Status.IMPLEMENTED, actor, now
        locked.lead_time = now - locked.received_at
        locked._change_reason = f"implemented, lead time {locked.lead_time}"
        locked.save()
    return locked


__all__ = [
    "FSARParseError",
    "IngestResult",
    "blocking_proposals_hold",
    "proposal_accept",
    "proposal_acknowledge",
    "proposal_implemented",
    "proposal_ingest",
    "proposal_reject",
    "proposal_tasks_create",
    "report_size_check",
]
