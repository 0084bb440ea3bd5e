"""The audit log: written with the action, append-only in the database, hash-chained and verifiable."""

import csv
import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from apps.auditlog.models import AuditLog
from apps.execution.models import ExecutionTask, TaskType
from apps.execution.services import task_approve, task_create, task_execute
from tests.execution.factories import UserFactory

pytestmark = pytest.mark.django_db


def status_rows(task) -> list[tuple[str, str]]:
    rows = AuditLog.objects.filter(action="task.status", object_id=str(task.pk)).order_by("id")
    return [(row.details["status"], row.details["event"]) for row in rows]


def test_every_state_change_of_a_self_programming_task_is_audited(ai_model, operator, reviewer,
                                                                  django_capture_on_commit_callbacks):
    TaskType.objects.filter(slug="self_programming").update(executor="echo")
    diff = "--- a/apps/core/money.py\n+++ b/apps/core/money.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    task = task_create(task_type="self_programming", ai_model=ai_model, created_by=operator,
                       payload={"prompt": "fix rounding", "diff": diff})  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False):
        task_approve(task=task, reviewer=reviewer, comment="diff is small")
    task_execute(task_id=task.pk)
    task.refresh_from_db()
    assert task.status == "succeeded"
    assert status_rows(task) == [("needs_review", "created"), ("pending", "approved"), ("queued", "queued"),
                                 ("running", "started"), ("succeeded", "completed")]  # fmt: skip
    rows = list(AuditLog.objects.filter(action="task.status", object_id=str(task.pk)).order_by("id"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT encode(sha256(convert_to(payload::text, 'UTF8')), 'hex') FROM execution_tasks "
                       "WHERE id = %s", [task.pk])  # fmt: skip
        payload_hash = cursor.fetchone()[0]
    assert {row.details["payload_sha256"] for row in rows} == {payload_hash}
    assert rows[0].details["diff"] == diff
    assert (rows[0].actor, rows[1].actor, rows[3].actor_label) == (operator, reviewer, "system")
    assert AuditLog.objects.filter(action="task.approved", object_id=str(task.pk), actor=reviewer).exists()

    other = task_create(task_type="implement_idea", ai_model=ai_model, created_by=operator)
    assert status_rows(other) == []  # only types with an audit trail


def test_a_failing_transition_leaves_neither_the_move_nor_its_audit_row(ai_model, operator, reviewer):
    task = task_create(task_type="self_programming", ai_model=ai_model, created_by=operator)
    before = AuditLog.objects.count()
    with connection.cursor() as cursor:  # the audit insert fails: the whole statement must roll back
        cursor.execute("""
            CREATE FUNCTION test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN IF NEW.action = 'task.status' THEN RAISE EXCEPTION 'no audit today'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW
                EXECUTE FUNCTION test_refuse_audit();
        """)
    with pytest.raises(DatabaseError, match="no audit today"), transaction.atomic():
        task_approve(task=task, reviewer=reviewer)
    task.refresh_from_db()
    assert task.status == "needs_review"
    assert not task.events.filter(kind="approved").exists()
    assert AuditLog.objects.count() == before


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET summary = 'nothing happened'",
                                       "DELETE FROM audit_log", "UPDATE audit_log SET actor_id = NULL WHERE false"])
def test_the_database_refuses_to_change_audit_rows(ai_model, operator, statement):
    task_create(task_type="self_programming", ai_model=ai_model, created_by=operator)
    count = AuditLog.objects.count()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditLog.objects.count() == count


def tamper(row_id: int, summary: str) -> None:
    """What someone with the schema owner's rights could do: switch the guard off, edit, switch it on."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending: ALTER TABLE refuses then
        cursor.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        cursor.execute("UPDATE audit_log SET summary = %s WHERE id = %s", [summary, row_id])
        cursor.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")


def test_audit_verify_names_the_first_tampered_row(ai_model, operator, capsys):
    for _ in range(3):
        task_create(task_type="self_programming", ai_model=ai_model, created_by=operator)
    call_command("audit_verify")
    assert f"Audit chain intact: {AuditLog.objects.count()} rows." in capsys.readouterr().out
    rows = list(AuditLog.objects.order_by("id").values_list("id", flat=True))
    tamper(rows[1], "status pending (created)")
    with pytest.raises(CommandError, match=f"audit row {rows[1]} was changed after it was written") as failure:
        call_command("audit_verify")
    assert failure.value.returncode == 1


def test_a_removed_row_breaks_the_link_of_the_next(ai_model, operator):
    for _ in range(3):
        task_create(task_type="self_programming", ai_model=ai_model, created_by=operator)
    rows = list(AuditLog.objects.order_by("id").values_list("id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        cursor.execute("DELETE FROM audit_log WHERE id = %s", [rows[1]])
        cursor.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    with pytest.raises(CommandError, match=f"audit row {rows[2]} does not follow the row before it"):
        call_command("audit_verify")


def test_role_changes_are_audited_with_who_made_them(reviewer, client):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    newcomer = UserFactory(username="nina", is_staff=True)
    client.force_login(admin)
    page = client.post(reverse("admin:auth_user_change", args=[newcomer.pk]), {
        "username": "nina", "is_active": "on", "is_staff": "on", "groups": [Group.objects.get(name="Reviewers").pk],
        "last_login_0": "", "last_login_1": "", "date_joined_0": "2026-11-01", "date_joined_1": "10:00:00",
    })  # fmt: skip
    assert page.status_code == 302, page.content.decode()[:2000]
    row = AuditLog.objects.filter(action="role.changed", object_id=str(newcomer.pk)).latest("id")
    assert (row.actor, row.summary) == (admin, "groups added: Reviewers")


def test_the_audit_log_page_filters_and_exports_csv(ai_model, operator, reviewer, client):
    task = task_create(task_type="self_programming", ai_model=ai_model, created_by=operator)
    task_approve(task=task, reviewer=reviewer, comment="=HYPERLINK(\"http://evil\")")
    client.force_login(reviewer)
    url = reverse("admin:auditlog_auditlog_changelist")
    listing = client.get(url, {"action": "task.approved"})
    assert listing.status_code == 200 and "task.approved" in listing.content.decode()
    answer = client.get(reverse("admin:auditlog_auditlog_export"), {"actor": str(reviewer.pk)})
    lines = list(csv.reader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert lines[0][:4] == ["id", "created_at", "actor_label", "action"]
    assert {line[3] for line in lines[1:]} == {"task.approved", "task.status"}
    approved = next(line for line in lines[1:] if line[3] == "task.approved")
    assert approved[7] == "'=HYPERLINK(\"http://evil\")"  # a formula stays text in a spreadsheet
    client.force_login(operator)
    assert client.get(url).status_code == 403
    assert ExecutionTask.objects.get(pk=task.pk).status == "queued"
