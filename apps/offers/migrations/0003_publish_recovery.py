"""Issue 16: what the sweeper needs to restart a publish whose job was lost, and what names a publish request."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('offers', '0002_roles'),
    ]

    operations = [
        migrations.AddField(
            model_name='historicaloffertemplate',
            name='publish_job_id',
            field=models.CharField(blank=True, help_text='The RQ job of the current publish.', max_length=64),
        ),
        migrations.AddField(
            model_name='historicaloffertemplate',
            name='publish_recoveries',
            field=models.PositiveSmallIntegerField(default=0, help_text='Restarts by the sweeper so far.'),
        ),
        migrations.AddField(
            model_name='historicaloffertemplate',
            name='publish_request',
            field=models.CharField(blank=True, help_text='Names one publish request in its Stripe idempotency keys.', max_length=32),
        ),
        migrations.AddField(
            model_name='historicaloffertemplate',
            name='publish_started_at',
            field=models.DateTimeField(blank=True, help_text='When that job last began running.', null=True),
        ),
        migrations.AddField(
            model_name='offertemplate',
            name='publish_job_id',
            field=models.CharField(blank=True, help_text='The RQ job of the current publish.', max_length=64),
        ),
        migrations.AddField(
            model_name='offertemplate',
            name='publish_recoveries',
            field=models.PositiveSmallIntegerField(default=0, help_text='Restarts by the sweeper so far.'),
        ),
        migrations.AddField(
            model_name='offertemplate',
            name='publish_request',
            field=models.CharField(blank=True, help_text='Names one publish request in its Stripe idempotency keys.', max_length=32),
        ),
        migrations.AddField(
            model_name='offertemplate',
            name='publish_started_at',
            field=models.DateTimeField(blank=True, help_text='When that job last began running.', null=True),
        ),
    ]
