"""RQ jobs of the safety app: ids in, one service call. The periodic one is registered in opsconsole/cron.py."""

from .audits import audit_run_by_id, audits_due_run
from .services import risk_rescore_run


def rescore_waiting_tasks(rescore_id: int) -> str:
    return risk_rescore_run(rescore_id=rescore_id)


def run_due_audits() -> list[str]:
    return audits_due_run()


def run_audit(audit_id: int, actor_id: int | None = None) -> str:
    return audit_run_by_id(audit_id=audit_id, actor_id=actor_id)
