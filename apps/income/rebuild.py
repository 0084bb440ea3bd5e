"""Recompute the rollups (apps/income/rollups.py) from the raw rows, a UTC day per transaction: after a bulk load,
a restore, or a change to what the rollups count."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction

from .models import RollupRebuild
from .rollups import RANGE_SQL, REBUILD_DAY_SQL


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def rollup_day_rebuild(day: date) -> None:
    """Recompute one UTC day's hour and day rows from the raw rows (writers to tasks and income wait meanwhile)."""
    start = day_start(day)
    with connection.cursor() as cursor:
        cursor.execute(REBUILD_DAY_SQL, {"start": start, "end": start + timedelta(days=1), "day": day})


def rollups_rebuild(
    *, resume: bool = False, progress: Callable[[RollupRebuild], None] | None = None
) -> RollupRebuild | None:
    """Recompute the rollups day by day, each day in its own transaction together with the run's position, so
    that a stopped run resumes where it stopped (`resume=True`) and running it again gives the same rows."""
    run = RollupRebuild.objects.filter(finished_at=None).order_by("-id").first() if resume else None
    if run is None:
        with connection.cursor() as cursor:
            cursor.execute(RANGE_SQL)
            first, last = cursor.fetchone()
        if first is None:
            return None
        run = RollupRebuild.objects.create(first_day=first, last_day=last, next_day=first)
    while run.next_day <= run.last_day:
        with transaction.atomic():
            rollup_day_rebuild(run.next_day)
            run.next_day += timedelta(days=1)
            run.days_done += 1
            if run.next_day > run.last_day:
                run.finished_at = datetime.now(UTC)
            run.save(update_fields=["next_day", "days_done", "finished_at"])
        if progress:
            progress(run)
    return run


