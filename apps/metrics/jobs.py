"""RQ jobs: each calls one service (the cron scheduler queues the periodic ones, opsconsole/cron.py)."""

from .drift import drift_evaluate
from .findings import detectors_run
from .leadtimes import lead_times_refresh
from .notify import alert_notify


def detect_blind_spots() -> dict[str, int]:
    return detectors_run()


def evaluate_drift() -> dict[str, int]:
    return drift_evaluate()


def refresh_lead_times() -> int:
    return lead_times_refresh()


def notify_alert(alert_id: int, event: str) -> dict[str, int]:
    return alert_notify(alert_id, event)
