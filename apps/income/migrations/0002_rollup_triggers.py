from django.db import migrations

from apps.income.rollups import DROP_TRIGGERS_SQL, REBUILD_SQL, TRIGGERS_SQL


class Migration(migrations.Migration):
    """Triggers that keep the daily rollups exact, then one rebuild from the tasks already there."""

    dependencies = [("income", "0001_ledger_and_rollups")]

    operations = [
        migrations.RunSQL(TRIGGERS_SQL, DROP_TRIGGERS_SQL),
        migrations.RunSQL(REBUILD_SQL, migrations.RunSQL.noop),
    ]
