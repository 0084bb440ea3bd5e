"""Ending an experiment, reversibly: promote (the winning price becomes the offer's; the candidate becomes the
task type's default model) or roll back (the control price; the champion), each one audited action, and each
undone by the other until the rollback window (EXPERIMENTS_ROLLBACK_WINDOW_HOURS) after the last decision has
passed. Meanwhile the other prices stay active on Stripe ("warm"); afterwards the offer's publish job archives
them (`price_experiments_finalize`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.auditlog.services import audit_record
from apps.execution.models import AIModel, ModelRollout, TaskType
from apps.offers.models import OfferPrice, OfferTemplate
from apps.offers.services import offer_default_price_set, offer_publish_request, offers_with_expired_prices

from .models import PriceExperiment, Variant

PriceStatus, RolloutStatus = PriceExperiment.Status, ModelRollout.Status


def rollback_window() -> timedelta:
    return timedelta(hours=settings.EXPERIMENTS_ROLLBACK_WINDOW_HOURS)


def window_closes_at(decided_at: datetime | None) -> datetime | None:
    return decided_at + rollback_window() if decided_at else None


def reversible(*, status: str, decided_at: datetime | None, live: tuple) -> bool:
    """Live experiments can be ended; ended ones reversed while their window is open."""
    if status in live:
        return True
    closes = window_closes_at(decided_at)
    return closes is not None and timezone.now() < closes


def _window_check(label: str, status: str, decided_at: datetime | None, live: tuple, wanted: str = "") -> None:
    if wanted and status == wanted:
        raise ValidationError(f"{label} is already {wanted.replace('_', ' ')}.")
    if not reversible(status=status, decided_at=decided_at, live=live):
        raise ValidationError(f"{label}'s rollback window closed at {window_closes_at(decided_at):%Y-%m-%d %H:%M} "
                              "UTC; start a new experiment to change it again.")  # fmt: skip


# Prices --------------------------------------------------------------------------------------------------


@transaction.atomic
def price_experiment_promote(*, experiment: PriceExperiment, variant: Variant, actor=None) -> PriceExperiment:
    """Make the variant's price the offer's (published by the offer's job); the others stay warm."""
    experiment = PriceExperiment.objects.select_for_update().select_related("offer").get(pk=experiment.pk)
    if variant.experiment_id != experiment.pk:
        raise ValidationError(f"{variant} is not a variant of {experiment}.")
    if experiment.status == PriceStatus.DRAFT:
        raise ValidationError(f"{experiment} has not started.")
    if experiment.status == PriceStatus.PROMOTED and experiment.winner_id == variant.pk:
        raise ValidationError(f"{experiment} already promoted {variant.key}.")
    _window_check(str(experiment), experiment.status, experiment.decided_at, (PriceStatus.RUNNING,))
    _newer_experiment_check(experiment)
    return _price_decide(experiment, variant, PriceStatus.PROMOTED, actor, "experiment.promoted")


@transaction.atomic
def price_experiment_rollback(*, experiment: PriceExperiment, actor=None) -> PriceExperiment:
    """Back to the control price (the offer's price before the experiment); the others stay warm."""
    experiment = PriceExperiment.objects.select_for_update().select_related("offer").get(pk=experiment.pk)
    if experiment.status == PriceStatus.DRAFT:
        return _price_draft_cancel(experiment, actor)
    _window_check(str(experiment), experiment.status, experiment.decided_at, (PriceStatus.RUNNING,),
                  PriceStatus.ROLLED_BACK)  # fmt: skip
    _newer_experiment_check(experiment)
    control = experiment.variants.filter(is_control=True).first()
    if control is None:
        raise ValidationError(f"{experiment} has no control variant to go back to.")
    return _price_decide(experiment, control, PriceStatus.ROLLED_BACK, actor, "experiment.rolled_back")


def _newer_experiment_check(experiment: PriceExperiment) -> None:
    """An ended experiment is not reversed under a newer one on the same offer: that one owns the price now."""
    if experiment.status == PriceStatus.RUNNING:
        return
    live = PriceExperiment.objects.filter(offer=experiment.offer_id,
                                          status__in=[PriceStatus.DRAFT, PriceStatus.RUNNING])  # fmt: skip
    if other := live.exclude(pk=experiment.pk).first():
        raise ValidationError(f"Experiment {other} is in progress on {experiment.offer}; end it first.")


def _price_draft_cancel(experiment: PriceExperiment, actor) -> PriceExperiment:
    """A draft (its prices perhaps never published) ends without touching the offer; its prices are archived by
    the next publish."""
    now = timezone.now()
    OfferPrice.objects.filter(pk__in=experiment.variants.values("offer_price")).exclude(
        stripe_price=experiment.offer.stripe_price_id
    ).update(keep_until=now)
    experiment.status, experiment.decided_at, experiment.status_reason = PriceStatus.ROLLED_BACK, now, "cancelled"
    experiment._change_reason = "cancelled before it started"
    experiment.save(update_fields=["status", "decided_at", "status_reason"])
    audit_record(action="experiment.cancelled", actor=actor, target=experiment,
                 summary=f"ended before it started; {experiment.offer} keeps its price")  # fmt: skip
    return experiment


def _price_decide(experiment: PriceExperiment, variant: Variant, status: str, actor, action: str):
    offer = experiment.offer
    before = offer.price
    now = timezone.now()
    variant = Variant.objects.select_related("offer_price__stripe_price").get(pk=variant.pk)
    extras = OfferPrice.objects.filter(pk__in=experiment.variants.values("offer_price"))
    extras.update(keep_until=now + rollback_window())
    if offer.stripe_price_id != variant.offer_price.stripe_price_id:  # dj-stripe row ids, both
        offer_default_price_set(offer=offer, extra=variant.offer_price, actor=actor,
                                reason=f"experiment {experiment.key}: {status.replace('_', ' ')} to {variant.key}")
    experiment.status, experiment.winner, experiment.decided_at = status, variant, now
    experiment.status_reason = f"{variant.key} at {variant.price} {offer.currency.upper()}"
    experiment._change_reason = f"{status}: {variant.key}"
    experiment.save(update_fields=["status", "winner", "decided_at", "status_reason"])
    audit_record(action=action, actor=actor, target=experiment,
                 summary=f"{offer}: {before} -> {variant.price} {offer.currency.upper()} ({variant.key}); reversible "
                         f"until {now + rollback_window():%Y-%m-%d %H:%M} UTC",
                 details={"variant": variant.key, "from_price": before, "to_price": variant.price,
                          "stripe_price": variant.stripe_price_id,
                          "window_closes_at": (now + rollback_window()).isoformat()})  # fmt: skip
    return experiment


def price_experiments_finalize() -> int:
    """Offers whose experiment prices' warm period is over get a publish, which archives those prices."""
    started = 0
    for offer in OfferTemplate.objects.filter(pk__in=offers_with_expired_prices()):
        if offer.sync_state == OfferTemplate.SyncState.PUBLISHING:
            continue  # the publish in flight archives them too
        offer_publish_request(offer=offer)
        started += 1
    return started


# Models --------------------------------------------------------------------------------------------------


@transaction.atomic
def rollout_promote(*, rollout: ModelRollout, actor=None) -> ModelRollout:
    """The candidate becomes the task type's default model, and tasks asking for the champion run on it."""
    rollout = ModelRollout.objects.select_for_update().get(pk=rollout.pk)
    _window_check(f"Rollout #{rollout.pk}", rollout.status, rollout.decided_at, ModelRollout.LIVE,
                  RolloutStatus.PROMOTED)  # fmt: skip
    _live_elsewhere_check(rollout)
    if rollout.status == RolloutStatus.HELD:
        raise ValidationError(f"Rollout #{rollout.pk} is held by its guardrails ({rollout.status_reason}); resume it "
                              "and let it be judged again, or roll it back.")  # fmt: skip
    if not AIModel.objects.filter(name=rollout.candidate_id, is_active=True).exists():
        raise ValidationError(f"{rollout.candidate_id} is inactive: activate it before making it the default.")
    task_type = TaskType.objects.select_for_update().get(pk=rollout.task_type_id)
    rollout.previous_default_id = task_type.default_ai_model_id  # restored exactly by a rollback (maybe none)
    return _rollout_decide(rollout, task_type, RolloutStatus.PROMOTED, rollout.candidate_id, actor,
                           "rollout.promoted")  # fmt: skip


@transaction.atomic
def rollout_rollback(*, rollout: ModelRollout, actor=None, reason: str = "") -> ModelRollout:
    """The champion again: tasks run as asked, and the task type's default model is what it was."""
    rollout = ModelRollout.objects.select_for_update().get(pk=rollout.pk)
    _window_check(f"Rollout #{rollout.pk}", rollout.status, rollout.decided_at, ModelRollout.LIVE,
                  RolloutStatus.ROLLED_BACK)  # fmt: skip
    _live_elsewhere_check(rollout)
    task_type = TaskType.objects.select_for_update().get(pk=rollout.task_type_id)
    default = task_type.default_ai_model_id
    if rollout.status == RolloutStatus.PROMOTED:
        default = rollout.previous_default_id
    return _rollout_decide(rollout, task_type, RolloutStatus.ROLLED_BACK, default, actor, "rollout.rolled_back",
                           reason)  # fmt: skip


def _live_elsewhere_check(rollout: ModelRollout) -> None:
    if rollout.status in ModelRollout.LIVE:
        return
    other = ModelRollout.objects.filter(task_type=rollout.task_type_id, status__in=ModelRollout.LIVE).first()
    if other:
        raise ValidationError(f"Rollout #{other.pk} is in progress on this task type; end it first.")


def _rollout_decide(rollout: ModelRollout, task_type: TaskType, status: str, default: str | None, actor,
                    action: str, reason: str = "") -> ModelRollout:  # fmt: skip
    before_default, before_status = task_type.default_ai_model_id, rollout.status
    if default != before_default:
        task_type.default_ai_model_id = default
        task_type._change_reason = f"rollout #{rollout.pk} {status.replace('_', ' ')}"
        task_type.save(update_fields=["default_ai_model"])
    now = timezone.now()
    rollout.status, rollout.decided_at = status, now
    rollout.status_reason = reason or f"{status.replace('_', ' ')} by {actor or 'the system'}"
    rollout._change_reason = status
    rollout.save(update_fields=["status", "decided_at", "status_reason", "previous_default"])
    audit_record(action=action, actor=actor, target=rollout,
                 summary=f"{task_type}: default model {before_default or '(none)'} -> {default or '(none)'}; "
                         f"reversible until {now + rollback_window():%Y-%m-%d %H:%M} UTC",
                 details={"from_status": before_status, "default_from": before_default, "default_to": default,
                          "reason": reason, "window_closes_at": (now + rollback_window()).isoformat()})  # fmt: skip
    return rollout
