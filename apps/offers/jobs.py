"""RQ jobs: ids in, one service call, nothing else."""

from django.conf import settings
from rq import Retry, get_current_job

from .services import RetryIn, offer_publish, offers_publishing_recover


def publish_offer(offer_id: int) -> str | Retry:
    """Returning RQ's Retry asks the worker to run this job again after the interval (RQ counts the runs)."""
    job = get_current_job()
    outcome = offer_publish(offer_id=offer_id, attempt=1 + ((job.number_of_retries or 0) if job else 0),
                            job_id=job.id if job else None)  # fmt: skip
    if isinstance(outcome, RetryIn):
        return Retry(max=settings.OFFERS_STRIPE_MAX_ATTEMPTS, interval=outcome.seconds)
    return outcome


def sweep_publishing() -> int:
    return offers_publishing_recover()
