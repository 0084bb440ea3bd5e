"""Proposal lead times: from a report's timestamp to accepted, to its first task, to a task succeeded, to
implemented; median and p90 per category and month, refreshed by a periodic job into `LeadTime` rows."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.proposals.models import Proposal

from .models import LeadTime, SlowProposal

MONTHS_KEPT = 13
SLOWEST_SHOWN = 10
LEAD_TIMES_LOCK = 7245083  # advisory lock key

# One row per proposal and stage reached: seconds from the report's timestamp.
STAGES_SQL = """
WITH reached AS (
    SELECT p.id, COALESCE(NULLIF(p.category, ''), '(none)') AS category,
           date_trunc('month', p.reported_at, 'UTC')::date AS month, p.reported_at,
           CASE WHEN p.status IN ('accepted', 'implemented') THEN p.decided_at END AS accepted_at,
           tasks.first_task_at, tasks.succeeded_at, p.implemented_at
    FROM proposals_proposal p
    LEFT JOIN LATERAL (
        SELECT min(t.created_at) AS first_task_at, min(t.finished_at) FILTER (WHERE t.status = 'succeeded')
               AS succeeded_at
        FROM proposals_proposal_tasks pt JOIN execution_tasks t ON t.id = pt.executiontask_id
        WHERE pt.proposal_id = p.id
    ) AS tasks ON true
    WHERE p.reported_at >= %(since)s
)
SELECT category, month, stage, count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds)
FROM reached, LATERAL (VALUES
    ('accepted', extract(epoch FROM accepted_at - reported_at)),
    ('first_task', extract(epoch FROM first_task_at - reported_at)),
    ('task_succeeded', extract(epoch FROM succeeded_at - reported_at)),
    ('implemented', extract(epoch FROM implemented_at - reported_at))
) AS stages(stage, seconds)
WHERE seconds IS NOT NULL
GROUP BY 1, 2, 3
"""


def lead_times_refresh() -> int:
    """Recompute the last MONTHS_KEPT months of lead times (older months stay as they were)."""
    since = (timezone.now() - timedelta(days=31 * MONTHS_KEPT)).replace(day=1, hour=0, minute=0, second=0,
                                                                          microsecond=0)  # fmt: skip
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LEAD_TIMES_LOCK])  # one refresh at a time
            cursor.execute(STAGES_SQL, {"since": since})
            rows = cursor.fetchall()
        LeadTime.objects.filter(month__gte=since.date()).delete()
        LeadTime.objects.bulk_create(
            LeadTime(category=category, month=month, stage=stage, proposals=count, median_seconds=median,
                     p90_seconds=p90)  # fmt: skip
            for category, month, stage, count, median, p90 in rows
        )
        SlowProposal.objects.all().delete()
        SlowProposal.objects.bulk_create(slowest_proposals_find())
    return len(rows)


def slowest_proposals_find(limit: int = SLOWEST_SHOWN) -> list[SlowProposal]:
    """The proposals that took (or have been waiting) longest to be accepted and to be implemented."""
    now = timezone.now()
    accepted = Proposal.objects.filter(status__in=["accepted", "implemented"], decided_at__isnull=False)
    waiting = Proposal.objects.filter(status__in=["new", "acknowledged"])
    implemented = Proposal.objects.filter(implemented_at__isnull=False)
    found = {
        "accepted": [(p, (p.decided_at - p.reported_at), True)
                     for p in accepted.order_by(F("reported_at") - F("decided_at"))[:limit]],
        "still waiting for a decision": [(p, now - p.reported_at, False)
                                         for p in waiting.order_by("reported_at")[:limit]],
        "implemented": [(p, p.implemented_at - p.reported_at, True)
                        for p in implemented.order_by(F("reported_at") - F("implemented_at"))[:limit]],
    }  # fmt: skip
    return [
        SlowProposal(stage=stage, rank=rank, proposal=proposal, seconds=waited.total_seconds(), reached=reached)
        for stage, items in found.items()
        for rank, (proposal, waited, reached) in enumerate(items, start=1)
    ]
