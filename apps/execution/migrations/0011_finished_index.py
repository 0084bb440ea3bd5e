"""Issue 18: finished tasks by time (rollup rebuilds a day at a time, new failure signatures), built CONCURRENTLY so
that writers to `execution_tasks` are not blocked."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("execution", "0010_review_queue_index")]

    operations = [
        AddIndexConcurrently(
            model_name="executiontask",
            index=models.Index(condition=models.Q(("finished_at__isnull", False)), fields=["finished_at"],
                               name="exec_task_finished_idx"),
        ),
    ]
