"""RQ jobs: ids in, one service call, nothing else. Periodic ones are registered in `cron`."""

from .services import bulk_operation_run, task_execute, tasks_sweep
from .worker import horse_handoff


def run_execution(task_id: int) -> str:
    if handoff := horse_handoff(task_id):  # a TaskWorker claimed it and records it: only the executor runs here
        return handoff.run_in_horse()
    return task_execute(task_id=task_id)


def sweep_executions() -> dict[str, int]:
    return tasks_sweep()


def run_bulk_operation(operation_id: int) -> str:
    return bulk_operation_run(operation_id=operation_id)
