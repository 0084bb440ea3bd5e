"""Issue 18: the daily rollup tables go (0009 moved their rows and triggers to the hourly/daily rollups). A separate
migration so that, going back, the tables and their keys exist before 0009 reinstalls their triggers."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [("income", "0009_hourly_rollups_with_histograms")]

    operations = [
        migrations.DeleteModel(
            name='IncomeDailyRollup',
        ),
        migrations.DeleteModel(
            name='TaskDailyRollup',
        ),
    ]
