import logging

import django_rq
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from redis import RedisError
from rq import Worker

logger = logging.getLogger(__name__)


def _database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        logger.exception("healthz: database unreachable")
        return False


def _redis_workers() -> int | None:
    """Number of RQ workers registered in Redis, or None when Redis does not answer."""
    try:
        redis = django_rq.get_connection("default")
        redis.ping()
        return Worker.count(connection=redis)
    except (RedisError, OSError):
        logger.exception("healthz: redis unreachable")
        return None


@never_cache
@require_GET
def healthz(request):
    """Reachability of PostgreSQL and Redis for load balancers and `make run` smoke tests; 503 if either is down.
    Worker count is informational: a console with no worker is up but not running tasks."""
    database_ok = _database_reachable()
    workers = _redis_workers()
    healthy = database_ok and workers is not None
    body = {
        "status": "ok" if healthy else "unavailable",
        "database": "ok" if database_ok else "unreachable",
        "redis": "ok" if workers is not None else "unreachable",
        "workers": workers,
    }
    return JsonResponse(body, status=200 if healthy else 503)
