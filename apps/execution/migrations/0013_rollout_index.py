"""Issue 19: each task's rollout, without blocking writers to `execution_tasks` (10M rows at scale): the column
added alone (no default: no rewrite), its foreign key added NOT VALID and then validated (a SHARE UPDATE
EXCLUSIVE lock), each step committed on its own; then the rollout's index built CONCURRENTLY."""

import django.db.models.deletion
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

FOREIGN_KEY = "execution_tasks_rollout_id_fk_execution_model_rollouts_id"
COLUMN_ADD = [
    "ALTER TABLE execution_tasks ADD COLUMN rollout_id bigint NULL",
    f"ALTER TABLE execution_tasks ADD CONSTRAINT {FOREIGN_KEY} FOREIGN KEY (rollout_id) "
    "REFERENCES execution_model_rollouts (id) DEFERRABLE INITIALLY DEFERRED NOT VALID",
    f"ALTER TABLE execution_tasks VALIDATE CONSTRAINT {FOREIGN_KEY}",
]
COLUMN_DROP = ["ALTER TABLE execution_tasks DROP COLUMN rollout_id"]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("execution", "0012_model_rollouts")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(COLUMN_ADD, COLUMN_DROP)],
            state_operations=[
                migrations.AddField(
                    model_name="executiontask",
                    name="rollout",
                    field=models.ForeignKey(
                        blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT,
                        related_name="tasks", to="execution.modelrollout",
                        help_text="The rollout that chose this task's model (its arm is the model).",
                    ),
                ),
            ],
        ),
        AddIndexConcurrently(
            model_name="executiontask",
            index=models.Index(condition=models.Q(("rollout__isnull", False)), fields=["rollout", "ai_model"],
                               name="exec_task_rollout_idx"),
        ),
    ]
