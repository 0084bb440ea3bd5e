"""Issue 18's benchmark found the ledger search by charge id reading the whole table (charge ids are searched
since 0006): a partial index, built CONCURRENTLY so that writers are not blocked."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("income", "0010_daily_rollups_removed")]

    operations = [
        AddIndexConcurrently(
            model_name="incomeevent",
            index=models.Index(condition=models.Q(("charge_id", ""), _negated=True), fields=["charge_id"],
                               name="income_charge_idx"),
        ),
    ]
