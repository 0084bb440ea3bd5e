"""RQ jobs: each calls one service (the cron scheduler queues the periodic ones, opsconsole/cron.py)."""

from .decisions import price_experiments_finalize
from .notify import rollout_held_notify
from .rollouts import rollouts_watch


def watch_rollouts() -> dict[str, int]:
    return rollouts_watch()


def finalize_price_experiments() -> int:
    return price_experiments_finalize()


def notify_rollout_held(rollout_id: int) -> int:
    return rollout_held_notify(rollout_id)
