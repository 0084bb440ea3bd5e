"""Role and permission changes are audited wherever they are made (the user admin, a shell, a management
command): they are writes to Django's auth tables, so they are caught at the model layer. Who made them comes
from the request django-simple-history's middleware keeps for the current thread, when there is one."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed, post_save, pre_save
from django.dispatch import receiver
from simple_history.models import HistoricalRecords

from .services import audit_record

User = get_user_model()
USER_FLAGS = ("is_staff", "is_superuser", "is_active")


def _request_user():
    request = getattr(HistoricalRecords.context, "request", None)
    return getattr(request, "user", None)


def _names(model, pks) -> list[str]:
    if model is Group:
        return sorted(Group.objects.filter(pk__in=pks).values_list("name", flat=True))
    return sorted(f"{app}.{codename}" for app, codename in
                  model.objects.filter(pk__in=pks).values_list("content_type__app_label", "codename"))  # fmt: skip


def _record_m2m(*, action, instance, model, pk_set, change):
    if change not in ("post_add", "post_remove", "post_clear"):
        return
    verb = {"post_add": "added", "post_remove": "removed", "post_clear": "cleared"}[change]
    names = _names(model, pk_set or ())
    with transaction.atomic():
        audit_record(
            action=action, actor=_request_user(), target=instance,
            summary=f"{model._meta.verbose_name_plural} {verb}: {', '.join(names) or 'all'}",
            details={"change": verb, "names": names},
        )  # fmt: skip


@receiver(m2m_changed, sender=User.groups.through)
def user_groups_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    if reverse:  # group.user_set.add(user): the instance is the group
        for user in User.objects.filter(pk__in=pk_set or ()):
            _record_m2m(action="role.changed", instance=user, model=Group, pk_set={instance.pk}, change=action)
        return
    _record_m2m(action="role.changed", instance=instance, model=model, pk_set=pk_set, change=action)


@receiver(m2m_changed, sender=User.user_permissions.through)
def user_permissions_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    if not reverse:
        _record_m2m(action="permission.changed", instance=instance, model=model, pk_set=pk_set, change=action)


@receiver(m2m_changed, sender=Group.permissions.through)
def group_permissions_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    if not reverse:
        _record_m2m(action="permission.changed", instance=instance, model=model, pk_set=pk_set, change=action)


@receiver(pre_save, sender=User)
def user_flags_before(sender, instance, raw=False, update_fields=None, **kwargs):
    """Remember the flags as stored, to audit after a successful save what it changed."""
    if raw or (update_fields is not None and not set(update_fields) & set(USER_FLAGS)):
        instance._audit_flags_before = False  # e.g. a login's last_login: nothing to audit
        return
    stored = User.objects.filter(pk=instance.pk).values(*USER_FLAGS).first() if instance.pk else None
    instance._audit_flags_before = stored


@receiver(post_save, sender=User)
def user_flags_changed(sender, instance, created, raw=False, **kwargs):
    """Becoming staff, superuser or inactive is a change of what someone may do: audited once it is saved."""
    before = getattr(instance, "_audit_flags_before", False)
    if raw or before is False:
        return
    now = {flag: getattr(instance, flag) for flag in USER_FLAGS}
    if before is None:
        changed = {flag: value for flag, value in now.items() if value and flag != "is_active"}
    else:
        changed = {flag: value for flag, value in now.items() if before[flag] != value}
    if not changed:
        return
    with transaction.atomic():
        audit_record(
            action="role.changed", actor=_request_user(), target=instance,
            summary=", ".join(f"{flag} {'on' if value else 'off'}" for flag, value in changed.items()),
            details={"flags": changed, "new_user": before is None},
        )  # fmt: skip
