"""Telling people about alerts: an e-mail (Django's mail backend) to ALERT_EMAILS and a signed JSON POST to each of
ALERT_WEBHOOK_URLS, sent by a worker after the alert's transaction commits.

The POST carries `X-OpsConsole-Timestamp` and `X-OpsConsole-Signature: sha256=<hex>`, the HMAC-SHA256 of
`<timestamp>.<body>` with ALERT_WEBHOOK_SECRET: a receiver recomputes it and refuses old timestamps."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.request

import django_rq
from django.conf import settings
from django.core.mail import send_mail

from .models import Alert

logger = logging.getLogger(__name__)
POST_TIMEOUT_SECONDS = 10


def alert_notify_push(alert_id: int, event: str) -> None:
    """Queue the notification; it leaves when the caller's transaction commits (django-rq's commit mode)."""
    if settings.ALERT_EMAILS or settings.ALERT_WEBHOOK_URLS:
        django_rq.get_queue("default").enqueue("apps.metrics.jobs.notify_alert", alert_id, event, result_ttl=600)


def alert_payload(alert: Alert, event: str) -> dict:
    rule = alert.rule
    return {
        "event": event, "alert_id": alert.pk, "rule": rule.name, "metric": rule.metric, "kind": rule.kind,
        "ai_model": alert.ai_model, "task_type": alert.task_type.slug, "value": alert.value,
        "baseline_median": alert.baseline_median, "limit": alert.limit, "opened_at": alert.opened_at.isoformat(),
        "closed_at": alert.closed_at.isoformat() if alert.closed_at else None,
    }  # fmt: skip


def signature_of(body: bytes, timestamp: str, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def alert_notify(alert_id: int, event: str) -> dict[str, int]:
    """Send one alert's news by mail and by POST; a receiver that fails is logged and the others still get it."""
    alert = Alert.objects.select_related("rule", "task_type").filter(pk=alert_id).first()
    if alert is None:
        return {"emails": 0, "posts": 0, "failed": 0}  # its rule was deleted meanwhile
    payload = alert_payload(alert, event)
    sent = {"emails": 0, "posts": 0, "failed": 0}
    if settings.ALERT_EMAILS:
        subject = f"[Ops Console] alert {event}: {alert}"
        lines = [f"{key}: {value}" for key, value in payload.items()]
        try:
            sent["emails"] = send_mail(subject, "\n".join(lines), None, settings.ALERT_EMAILS)
        except Exception:  # the mail server's trouble must not keep the webhooks from hearing
            logger.exception("alert %s: e-mail failed", alert_id)
            sent["failed"] += 1
    body = json.dumps(payload).encode()
    for url in settings.ALERT_WEBHOOK_URLS:
        timestamp = str(int(time.time()))
        request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310 - configured URLs
            "Content-Type": "application/json", "X-OpsConsole-Timestamp": timestamp,
            "X-OpsConsole-Signature": signature_of(body, timestamp, settings.ALERT_WEBHOOK_SECRET),
        })  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS):  # noqa: S310
                sent["posts"] += 1
        except OSError:
            logger.exception("alert %s: POST to %s failed", alert_id, url)
            sent["failed"] += 1
    Alert.objects.filter(pk=alert_id).update(notified_at=alert.last_seen)
    return sent
