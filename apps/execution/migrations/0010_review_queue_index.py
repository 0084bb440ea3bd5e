"""Issue 17, the steps that read all of `execution_tasks`, done without blocking its writers: the review queue's
partial index built CONCURRENTLY, the risk score's range check added NOT VALID and then validated."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

CHECK_ADD = """
ALTER TABLE execution_tasks ADD CONSTRAINT exec_task_risk_score_range CHECK (risk_score <= 100) NOT VALID;
ALTER TABLE execution_tasks VALIDATE CONSTRAINT exec_task_risk_score_range;
"""
CHECK_DROP = "ALTER TABLE execution_tasks DROP CONSTRAINT exec_task_risk_score_range;"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("execution", "0009_risk_review_scoped_holds")]

    operations = [
        AddIndexConcurrently(
            model_name="executiontask",
            index=models.Index(condition=models.Q(("status", "needs_review")), fields=["created_at"],
                               name="exec_task_review_queue_idx"),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(CHECK_ADD, CHECK_DROP)],
            state_operations=[
                migrations.AddConstraint(
                    model_name="executiontask",
                    constraint=models.CheckConstraint(condition=models.Q(("risk_score__lte", 100)),
                                                      name="exec_task_risk_score_range"),
                ),
            ],
        ),
    ]
