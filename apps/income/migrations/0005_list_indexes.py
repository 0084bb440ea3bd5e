"""Indexes for the admin lists and the API at 10 million tasks (issue 15)."""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('djstripe', '0003_2_11'),
        ('execution', '0008_list_indexes'),
        ('income', '0004_roles'),
        ('offers', '0002_roles'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # Built without locking writes (CREATE INDEX CONCURRENTLY cannot run in a transaction); the indexes they
    # replace are dropped only once the new ones exist.
    atomic = False

    operations = [
        AddIndexConcurrently(
            model_name='incomeevent',
            index=models.Index(fields=['-occurred_at', '-id'], name='income_occurred_id_idx'),
        ),
        AddIndexConcurrently(
            model_name='incomeevent',
            index=models.Index(fields=['kind', '-occurred_at', '-id'], name='income_kind_idx'),
        ),
        AddIndexConcurrently(
            model_name='incomeevent',
            index=models.Index(fields=['currency', '-occurred_at', '-id'], name='income_currency_idx'),
        ),
        AddIndexConcurrently(
            model_name='incomeevent',
            index=models.Index(fields=['ai_model', '-occurred_at', '-id'], name='income_ai_model_idx'),
        ),
        AddIndexConcurrently(
            model_name='incomeevent',
            index=models.Index(fields=['task_type', '-occurred_at', '-id'], name='income_task_type_idx'),
        ),
        AddIndexConcurrently(
            model_name='incomeevent',
            index=models.Index(condition=models.Q(('ai_model__isnull', True), ('task_type__isnull', True)), fields=['-occurred_at', '-id'], name='income_unattributed_idx'),
        ),
        # The plain occurred_at indexes the ordered ones replace, dropped without locking writes either (an
        # AlterField would DROP INDEX in the open, waiting behind reads while blocking writes).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='historicalincomeevent',
                    name='occurred_at',
                    field=models.DateTimeField(),
                ),
                migrations.AlterField(
                    model_name='incomeevent',
                    name='occurred_at',
                    field=models.DateTimeField(),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX CONCURRENTLY IF EXISTS "income_events_occurred_at_56932716"',
                    reverse_sql='CREATE INDEX CONCURRENTLY IF NOT EXISTS "income_events_occurred_at_56932716" '
                                'ON "income_events" ("occurred_at")',
                ),
                migrations.RunSQL(
                    'DROP INDEX CONCURRENTLY IF EXISTS "income_historicalincomeevent_occurred_at_4c0f41bd"',
                    reverse_sql='CREATE INDEX CONCURRENTLY IF NOT EXISTS '
                                '"income_historicalincomeevent_occurred_at_4c0f41bd" ON "income_historicalincomeevent" '
                                '("occurred_at")',
                ),
            ],
        ),
    ]
