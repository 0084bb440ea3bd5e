"""Stripe webhook intake: verify, store in dj-stripe's webhook table, hand to RQ, answer 2xx at once.

dj-stripe's own view keeps the signing secret in its database and processes events inside the request (where
processing may call the Stripe API); its hook to defer that, DJSTRIPE_WEBHOOK_EVENT_CALLBACK, is deprecated. So
this view checks the signature with the environment's secret (`STRIPE_WEBHOOK_SECRET`), its age and the event's
shape before anything is stored (unsigned or tampered posts cannot fill the database, and dj-stripe's DEBUG-only
`X-Djstripe-Webhook-Secret` override plays no part), stores the request as a dj-stripe `WebhookEventTrigger`
(seen in dj-stripe's admin) and queues the RQ job that records it.
"""

import json
import logging

import stripe
from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from djstripe.models import WebhookEventTrigger
from djstripe.models.webhooks import get_remote_ip
from redis import RedisError

from .services import income_record_job_push

logger = logging.getLogger(__name__)
# What a stored delivery keeps of its request headers: enough to verify and debug it, never a cookie or a token.
KEPT_HEADERS = ("Stripe-Signature", "Content-Type", "User-Agent")


def kept_headers(headers) -> dict[str, str]:
    return {name: headers[name] for name in KEPT_HEADERS if name in headers}


def webhook_problem(*, body: bytes, signature: str | None) -> str | None:
    """Why this request is not a genuine, fresh, well-formed Stripe event; None when it is."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not signature:
        return "Missing Stripe-Signature header."
    try:
        payload = body.decode("utf-8")
        stripe.WebhookSignature.verify_header(payload, signature, secret, settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS)
    except UnicodeDecodeError:
        return "Body is not UTF-8."
    except stripe.SignatureVerificationError as error:
        return f"Signature rejected: {error.user_message or error}"
    try:
        event = json.loads(payload)
    except ValueError as error:
        return f"Body is not JSON: {error}"
    if not (isinstance(event, dict) and isinstance(event.get("id"), str) and isinstance(event.get("type"), str)):
        return "Body is not a Stripe event (id and type are required)."
    if event.get("livemode") is not settings.STRIPE_LIVE_MODE:
        return f"A {'live' if event.get('livemode') else 'test'}-mode event sent to a console in the other mode."
    if not isinstance((event.get("data") or {}).get("object"), dict):
        return "Body is not a Stripe event (data.object is required)."
    return None


@csrf_exempt  # Stripe cannot send a CSRF token; the signature is the proof of origin
@require_POST
def stripe_webhook(request):
    if not settings.STRIPE_WEBHOOK_SECRET:
        logger.error("Stripe webhook refused: STRIPE_WEBHOOK_SECRET is not set")
        return HttpResponse("Webhook signing secret not configured.", status=503, content_type="text/plain")
    problem = webhook_problem(body=request.body, signature=request.headers.get("Stripe-Signature"))
    if problem:
        logger.warning("Stripe webhook refused: %s", problem)
        return HttpResponseBadRequest(problem, content_type="text/plain")
    trigger = WebhookEventTrigger.objects.create(
        remote_ip=get_remote_ip(request), headers=kept_headers(request.headers), body=request.body.decode(), valid=True
    )
    try:
        income_record_job_push(trigger_id=trigger.pk)
    except RedisError:
        # Stored but not queued: Stripe retries non-2xx answers, and `income_replay_webhooks` queues leftovers.
        logger.exception("Stripe webhook %s stored but not queued", trigger.pk)
        return HttpResponse("Stored; queue unavailable, retry later.", status=503, content_type="text/plain")
    return HttpResponse(f"Queued as webhook {trigger.pk}.", content_type="text/plain")
