"""Every periodic job, registered once with RQ's cron scheduler (`manage.py cron` loads this module)."""

from django.conf import settings
from rq import cron

from apps.execution.jobs import sweep_executions

cron.register(
    sweep_executions, "default", interval=settings.EXECUTION_SWEEP_INTERVAL_SECONDS, name="execution-sweep",
    job_timeout=max(60, settings.EXECUTION_SWEEP_INTERVAL_SECONDS * 4), result_ttl=600,
)  # fmt: skip
