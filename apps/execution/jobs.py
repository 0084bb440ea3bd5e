"""RQ jobs: ids in, one service call, nothing else."""

from .services import bulk_operation_run, task_execute, tasks_sweep
from .services.queueing import sweeper_schedule


def run_execution(task_id: int) -> str:
    return task_execute(task_id=task_id)


def sweep_executions() -> dict[str, int]:
    try:
        return tasks_sweep()
    finally:
        sweeper_schedule()  # the next link of the chain, even when this sweep failed


def run_bulk_operation(operation_id: int) -> str:
    return bulk_operation_run(operation_id=operation_id)
