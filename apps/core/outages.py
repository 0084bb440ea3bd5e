"""Long-running processes (workers, the cron scheduler) ride out a Redis outage instead of exiting."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.exceptions import StopRequested

logger = logging.getLogger(__name__)
REDIS_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 2.0


def run_through_redis_outages(run: Callable[[], object], *, what: str, sleep=time.sleep) -> None:
    """Call `run()` until it returns (a requested stop); while Redis is unreachable, wait with backoff (capped
    at BACKOFF_MAX_SECONDS, so work resumes within seconds of Redis coming back) and start it again."""
    delay = BACKOFF_FIRST_SECONDS
    while True:
        started = time.monotonic()
        try:
            run()
            return
        except StopRequested:  # SIGTERM while starting
            return
        except REDIS_UNREACHABLE as error:
            if time.monotonic() - started > BACKOFF_MAX_SECONDS:
                delay = BACKOFF_FIRST_SECONDS  # it ran a while: a new outage, not the same one
            logger.warning("%s: Redis unreachable (%s); starting again in %.1f s", what, error, delay)
            try:
                sleep(delay)
            except StopRequested:  # SIGTERM while waiting for Redis
                return
            delay = min(delay * 2, BACKOFF_MAX_SECONDS)
