"""RQ jobs: ids in, one service call, nothing else."""

from datetime import timedelta

from django.utils import timezone

from .reconciliation import income_reconcile_day
from .services import income_record_trigger, income_stranded_retry, income_webhook_bodies_prune
from .settlement import income_stripe_details_fetch


def record_stripe_event(trigger_id: int) -> str:
    return income_record_trigger(trigger_id=trigger_id)


def fetch_stripe_details(row_id: int) -> str:
    return income_stripe_details_fetch(row_id=row_id)


def retry_stranded_webhooks() -> dict[str, int]:
    return income_stranded_retry()


def prune_webhook_bodies() -> int:
    return income_webhook_bodies_prune()


def reconcile_yesterday() -> str:
    return str(income_reconcile_day(day=timezone.now().date() - timedelta(days=1)))


def reconcile_day(day: str) -> str:
    return str(income_reconcile_day(day=timezone.datetime.fromisoformat(day).date()))
