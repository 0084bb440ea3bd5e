"""RQ jobs: ids in, one service call, nothing else."""

from .services import income_record_trigger


def record_stripe_event(trigger_id: int) -> str:
    return income_record_trigger(trigger_id=trigger_id)
