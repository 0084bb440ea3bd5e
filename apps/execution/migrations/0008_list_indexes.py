"""Indexes for the admin lists and the API at 10 million tasks (issue 15)."""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('execution', '0007_roles'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # Built without locking writes (CREATE INDEX CONCURRENTLY cannot run in a transaction); the indexes they
    # replace are dropped only once the new ones exist.
    atomic = False

    operations = [
        AddIndexConcurrently(
            model_name='executionevent',
            index=models.Index(fields=['-created_at', '-id'], name='exec_event_created_id_idx'),
        ),
        AddIndexConcurrently(
            model_name='executionevent',
            index=models.Index(fields=['kind', '-created_at', '-id'], name='exec_event_kind_id_idx'),
        ),
        AddIndexConcurrently(
            model_name='executionevent',
            index=models.Index(fields=['ai_model', '-created_at', '-id'], name='exec_event_ai_model_id_idx'),
        ),
        AddIndexConcurrently(
            model_name='executiontask',
            index=models.Index(fields=['-created_at', '-id'], name='exec_task_created_id_idx'),
        ),
        AddIndexConcurrently(
            model_name='executiontask',
            index=models.Index(fields=['status', '-created_at', '-id'], name='exec_task_status_id_idx'),
        ),
        AddIndexConcurrently(
            model_name='executiontask',
            index=models.Index(fields=['task_type', '-created_at', '-id'], name='exec_task_type_id_idx'),
        ),
        AddIndexConcurrently(
            model_name='executiontask',
            index=models.Index(fields=['ai_model', '-created_at', '-id'], name='exec_task_ai_model_id_idx'),
        ),
        AddIndexConcurrently(
            model_name='executiontask',
            index=models.Index(fields=['rq_job_id'], name='exec_task_rq_job_idx'),
        ),
        AddIndexConcurrently(
            model_name='executiontask',
            index=models.Index(fields=['task_type', 'status'], name='exec_task_type_status_idx'),
        ),
        AddIndexConcurrently(
            model_name='executiontask',
            index=models.Index(fields=['ai_model', 'status'], name='exec_task_ai_model_status_idx'),
        ),
        RemoveIndexConcurrently(
            model_name='executionevent',
            name='exec_event_kind_idx',
        ),
        RemoveIndexConcurrently(
            model_name='executiontask',
            name='exec_task_created_idx',
        ),
        RemoveIndexConcurrently(
            model_name='executiontask',
            name='exec_task_status_idx',
        ),
        RemoveIndexConcurrently(
            model_name='executiontask',
            name='exec_task_type_idx',
        ),
        RemoveIndexConcurrently(
            model_name='executiontask',
            name='exec_task_ai_model_idx',
        ),
    ]
