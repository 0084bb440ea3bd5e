"""Every periodic job, registered once with RQ's cron scheduler (`manage.py cron` loads this module)."""

from django.conf import settings
from rq import cron

from apps.execution.jobs import sweep_executions
from apps.experiments.jobs import finalize_price_experiments, watch_rollouts
from apps.income.jobs import prune_webhook_bodies, reconcile_yesterday, retry_stranded_webhooks
from apps.metrics.jobs import detect_blind_spots, evaluate_drift, refresh_lead_times
from apps.offers.jobs import sweep_publishing
from apps.safety.jobs import run_due_audits

cron.register(
    sweep_executions, "default", interval=settings.EXECUTION_SWEEP_INTERVAL_SECONDS, name="execution-sweep",
    job_timeout=max(60, settings.EXECUTION_SWEEP_INTERVAL_SECONDS * 4), result_ttl=600,
)  # fmt: skip
cron.register(
    retry_stranded_webhooks, "default", interval=settings.INCOME_STRANDED_SWEEP_SECONDS,
    name="income-stranded-webhooks", job_timeout=300, result_ttl=600,
)  # fmt: skip
cron.register(reconcile_yesterday, "default", cron=settings.INCOME_RECONCILE_CRON, name="income-reconcile",
              job_timeout=1800, result_ttl=86400)  # fmt: skip
cron.register(prune_webhook_bodies, "default", cron="15 4 * * *", name="income-prune-webhook-bodies", job_timeout=900,
              result_ttl=86400)  # fmt: skip
cron.register(sweep_publishing, "default", interval=settings.OFFERS_SWEEP_INTERVAL_SECONDS, name="offers-sweep",
              job_timeout=120, result_ttl=600)  # fmt: skip
cron.register(run_due_audits, "default", interval=60, name="safety-audits", job_timeout=120,
              result_ttl=600)  # each scheduled audit's own cron expression is checked every minute  # fmt: skip
cron.register(detect_blind_spots, "default", interval=settings.METRICS_DETECT_INTERVAL_SECONDS, name="blind-spots",
              job_timeout=300, result_ttl=600)  # fmt: skip
cron.register(evaluate_drift, "default", interval=settings.METRICS_DETECT_INTERVAL_SECONDS, name="drift-alerts",
              job_timeout=300, result_ttl=600)  # fmt: skip
cron.register(refresh_lead_times, "default", interval=3600, name="lead-times", job_timeout=600, result_ttl=3600)
cron.register(watch_rollouts, "default", interval=settings.EXPERIMENTS_GUARDRAIL_INTERVAL_SECONDS,
              name="rollout-guardrails", job_timeout=300, result_ttl=600)  # fmt: skip
cron.register(finalize_price_experiments, "default", interval=3600, name="experiment-prices-archive",
              job_timeout=300, result_ttl=3600)  # fmt: skip
