"""Keeping blind-spot findings: running the detectors (one row per fingerprint, counted on each run that sees it,
resolved by the first run that does not), and what people do with a finding."""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.auditlog.services import audit_record

from .detectors import DETECTORS, Look
from .models import DetectorState, Finding

logger = logging.getLogger(__name__)
Status = Finding.Status
CLEARED_NOTE = "Cleared: the detector no longer sees it."


def detectors_run(now: datetime | None = None, *, only: list[str] | None = None) -> dict[str, int]:
    """Run every detector (or `only` these), each in its own transaction; one that fails is logged and the
    others still run. Returns the open findings per detector."""
    now = now or timezone.now()
    opened: dict[str, int] = {}
    for name, detector in DETECTORS.items():
        if only and name not in only:
            continue
        try:
            with transaction.atomic():
                opened[name] = _detector_run(detector, now)
        except Exception:
            logger.exception("blind-spot detector %s failed", name)
            opened[name] = -1
    return opened


def _detector_run(detector, now: datetime) -> int:
    state, _ = DetectorState.objects.select_for_update().get_or_create(detector=detector.name)
    findings = Finding.objects.filter(detector=detector.name)
    open_fingerprints = set(findings.exclude(status=Status.RESOLVED).values_list("fingerprint", flat=True))
    look = Look(now=now, watermark=state.watermark, open_fingerprints=open_fingerprints)
    seen = {observation.fingerprint: observation for observation in detector.check(look)}
    known = {finding.fingerprint: finding for finding in findings.filter(fingerprint__in=list(seen))}
    for fingerprint, observation in seen.items():
        finding = known.get(fingerprint)
        shown = {"title": observation.title[:300], "detail": observation.detail,
                 "links": [list(link) for link in observation.links], "last_seen": now}  # fmt: skip
        if finding is None:
            Finding.objects.create(detector=detector.name, fingerprint=fingerprint, severity=detector.severity,
                                   first_seen=now, **shown)  # fmt: skip
            continue
        for key, value in shown.items():
            setattr(finding, key, value)
        finding.occurrences += 1
        if finding.status == Status.RESOLVED or (
            finding.status == Status.MUTED and finding.muted_until and finding.muted_until <= now
        ):
            finding.status, finding.resolved_at, finding.muted_until = Status.OPEN, None, None
        finding.save()
    findings.exclude(status=Status.RESOLVED).exclude(fingerprint__in=list(seen)).update(
        status=Status.RESOLVED, resolved_at=now, resolved_by=None, resolution_note=CLEARED_NOTE
    )
    state.watermark = look.new_watermark if look.new_watermark is not None else state.watermark
    state.last_run_at = now
    state.save()
    return len(seen)


def _triaged(finding: Finding, actor, action: str, summary: str, **changes) -> Finding:
    with transaction.atomic():
        for key, value in changes.items():
            setattr(finding, key, value)
        finding.save(update_fields=list(changes))
        audit_record(action=f"finding.{action}", actor=actor, target=finding, summary=summary,
                     details={key: str(value) for key, value in changes.items()})  # fmt: skip
    return finding


def finding_assign(finding: Finding, *, assignee, actor) -> Finding:
    return _triaged(finding, actor, "assigned", f"assigned to {assignee or 'nobody'}", assignee=assignee)


def finding_acknowledge(finding: Finding, *, actor) -> Finding:
    if finding.status == Status.RESOLVED:
        raise ValidationError("A resolved finding cannot be acknowledged; it reopens if the detector sees it again.")
    return _triaged(finding, actor, "acknowledged", "acknowledged", status=Status.ACKNOWLEDGED)


def finding_mute(finding: Finding, *, until: datetime, actor) -> Finding:
    if until <= timezone.now():
        raise ValidationError({"muted_until": "Mute until a time in the future."})
    return _triaged(finding, actor, "muted", f"muted until {until:%Y-%m-%d %H:%M}", status=Status.MUTED,
                    muted_until=until)  # fmt: skip


def finding_resolve(finding: Finding, *, note: str, actor) -> Finding:
    if not note.strip():
        raise ValidationError({"resolution_note": "Say how it was resolved."})
    return _triaged(finding, actor, "resolved", note.strip()[:200], status=Status.RESOLVED,
                    resolved_at=timezone.now(), resolved_by=actor, resolution_note=note.strip())  # fmt: skip
