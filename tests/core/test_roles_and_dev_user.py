import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_operators_manage_tasks_but_cannot_delete_or_review(operator):
    assert operator.has_perms(["execution.add_executiontask", "execution.change_executiontask"])
    assert not operator.has_perm("execution.delete_executiontask")
    assert not operator.has_perm("execution.review_executiontask")


def test_reviewers_review_and_read_history_but_cannot_create_tasks(reviewer):
    assert reviewer.has_perms(["execution.review_executiontask", "execution.view_historicalexecutiontask"])
    assert not reviewer.has_perm("execution.add_executiontask")


def test_offer_builders_have_no_task_permissions(offer_builder):
    assert offer_builder.has_perm("execution.view_aimodel")
    assert not any(p.endswith("executiontask") for p in offer_builder.get_all_permissions())


def test_dev_superuser_is_refused_when_debug_is_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("ensure_dev_superuser")
    assert not get_user_model().objects.filter(username="admin").exists()


def test_dev_superuser_password_is_printed_once_and_works(settings, capsys):
    settings.DEBUG = True
    call_command("ensure_dev_superuser")
    password = capsys.readouterr().out.split("password: ")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)

    call_command("ensure_dev_superuser")
    assert password not in capsys.readouterr().out
