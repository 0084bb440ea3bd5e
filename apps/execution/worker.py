"""The production worker: claims and records tasks in the long-lived worker process, on its warm database
connection, while the forked work horse only runs the executor and never touches the database.

A work horse of RQ's forking `Worker` that did everything itself paid for a new PostgreSQL connection, a
cold server backend and a cold ORM in every task (about 20 ms, more than RQ's own cost per job; see README,
"Engine throughput"). The horse still gives what forking is for: a model call that hangs, leaks or crashes
takes only its horse down, and the worker records what became of the task.

Between the two processes: the claimed task goes to the horse through fork itself (`Handoff`, set just before
RQ forks), the outcome comes back through an unlinked temporary file. If the worker dies while its horse
runs, the horse records the outcome itself on a connection of its own. The worker records an outcome while
the next task's horse runs (it would only wait for that horse otherwise), or at once when no job is waiting.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import tempfile
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError, close_old_connections, connections
from rq.job import Job
from rq.queue import Queue
from rq.worker import Worker

from apps.core.outages import BACKOFF_MAX_SECONDS

from .models import ExecutionTask
from .services.rqjobs import RUN_JOB
from .services.running import RunOutcome, task_claim, task_record, task_run

logger = logging.getLogger(__name__)


@dataclass
class Handoff:
    """What a worker passes to the work horse it is about to fork for one task job."""

    task_id: int
    task: ExecutionTask | None  # None: not claimed (taken, cancelled, finished, or execution paused)
    outcome_fd: int
    worker_pid: int

    def run_in_horse(self) -> str:
        """In the work horse: run the executor and hand the outcome back, or record it here if the worker died."""
        if self.task is None:
            return "not claimed"
        outcome = task_run(self.task)
        if os.getppid() != self.worker_pid:  # the worker is gone: nobody else will record this run
            return task_record(self.task, outcome)
        os.pwrite(self.outcome_fd, pickle.dumps(outcome), 0)
        return "ran; the worker records the outcome"

    def outcome_read(self) -> RunOutcome | None:
        """In the worker, after the horse ended: what it handed back (None: it died first)."""
        size = os.fstat(self.outcome_fd).st_size
        return pickle.loads(os.pread(self.outcome_fd, size, 0)) if size else None  # noqa: S301 (our own horse)


_handoff: Handoff | None = None
_connections_of_the_worker: list = []


def horse_handoff(task_id: int) -> Handoff | None:
    """In a work horse forked by a TaskWorker: the task its worker claimed for it. None anywhere else (a
    SimpleWorker, RQ's own Worker, a test calling the job directly), where the job does everything itself."""
    handoff = _handoff
    if handoff is None or handoff.task_id != task_id or os.getpid() == handoff.worker_pid:
        return None
    return handoff


def run_job_task_id(job: Job) -> int | None:
    return job.args[0] if job.func_name == RUN_JOB and job.args else None


class TaskWorker(Worker):
    """RQ's forking worker that claims and records task jobs itself (README recommends it for production)."""

    _outcome_file = None
    _pending: tuple[ExecutionTask, RunOutcome] | None = None  # an outcome not recorded yet
    max_connection_wait_time = BACKOFF_MAX_SECONDS  # RQ's own dequeue retry grows to 60 s between tries

    def execute_job(self, job: Job, queue: Queue):
        global _handoff
        task_id = run_job_task_id(job)
        if task_id is None:
            return super().execute_job(job, queue)
        try:
            task = task_claim(task_id=task_id)
        except (OperationalError, InterfaceError) as error:
            logger.warning("task %s: claim failed (%s); the work horse will try on its own connection", task_id, error)
            close_old_connections()
            return super().execute_job(job, queue)
        handoff = Handoff(task_id=task_id, task=task, outcome_fd=self._outcome_fd(), worker_pid=os.getpid())
        _handoff = handoff
        try:
            super().execute_job(job, queue)
        finally:
            _handoff = None
        if task is None:
            return None
        outcome = handoff.outcome_read() or RunOutcome(
            duration_ms=None, error="the work horse ended without handing back an outcome (killed or out of memory?)"
        )
        self._pending = (task, outcome)
        return None

    def monitor_work_horse(self, job: Job, queue: Queue, execution):
        self._record_pending()  # the last task's outcome, written while this task's horse works
        super().monitor_work_horse(job, queue, execution)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None):
        if self._pending is not None:
            if job_and_queue := super().dequeue_job_and_maintain_ttl(None, max_idle_time):  # without waiting
                return job_and_queue
            self._record_pending()  # nothing waiting: record now (a retry it queues may be the next job)
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def teardown(self):
        self._record_pending()
        super().teardown()

    def _record_pending(self) -> None:
        if self._pending is None:
            return
        (task, outcome), self._pending = self._pending, None
        try:
            task_record(task, outcome)
        except Exception:  # the task stays running: the sweep retries it after its timeout plus grace
            logger.exception("task %s: outcome not recorded", task.pk)

    def main_work_horse(self, job: Job, queue: Queue):
        gc.freeze()  # the horse's collections skip what it inherited: no copy-on-write of the worker's heap
        _connections_leave_to_worker()
        super().main_work_horse(job, queue)

    def _outcome_fd(self) -> int:
        if self._outcome_file is None:
            self._outcome_file = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115 (lives as long as the worker)
        fd = self._outcome_file.fileno()
        os.ftruncate(fd, 0)
        return fd


def _connections_leave_to_worker() -> None:
    """In the horse: stop using the worker's database connections without closing them (closing would end the
    worker's session for both); a query in the horse opens a connection of its own."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:
            _connections_of_the_worker.append(connection.connection)  # kept referenced: never finalized here
            connection.connection = None
