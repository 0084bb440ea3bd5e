"""Indexes for the admin lists and the API at 10 million tasks (issue 15)."""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('execution', '0008_list_indexes'),
        ('proposals', '0002_roles'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # Built without locking writes (CREATE INDEX CONCURRENTLY cannot run in a transaction); the indexes they
    # replace are dropped only once the new ones exist.
    atomic = False

    operations = [
        AddIndexConcurrently(
            model_name='proposal',
            index=models.Index(fields=['-reported_at', '-id'], name='proposal_reported_id_idx'),
        ),
        AddIndexConcurrently(
            model_name='proposal',
            index=models.Index(fields=['status', '-reported_at', '-id'], name='proposal_status_idx'),
        ),
        AddIndexConcurrently(
            model_name='proposal',
            index=models.Index(fields=['category', '-reported_at', '-id'], name='proposal_category_idx'),
        ),
        AddIndexConcurrently(
            model_name='proposal',
            index=models.Index(condition=models.Q(('block_execution', True)), fields=['-reported_at', '-id'], name='proposal_blocking_idx'),
        ),
        AddIndexConcurrently(
            model_name='proposal',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.search.SearchVector('body', config='english'), name='proposal_body_search_idx'),
        ),
    ]
