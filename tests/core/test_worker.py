import pytest
from django.core.management import call_command
from rq import Queue
from rq.job import JobStatus


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_worker_passes_the_schema_guard_and_runs_a_job(redis_test_db):
    """A real RQ worker runs a job that checks the schema. Transactional: the worker command closes and
    reopens database connections, as it must around forks."""
    job = Queue("default", connection=redis_test_db).enqueue("apps.core.schema.schema_problems")
    call_command("rqworker", "--burst", "--worker-class", "rq.worker.SimpleWorker", "default")
    job.refresh()
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == []
