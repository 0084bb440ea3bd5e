"""RQ jobs: ids in, one service call, nothing else."""

from .services import offer_publish


def publish_offer(offer_id: int) -> str:
    return offer_publish(offer_id=offer_id)
