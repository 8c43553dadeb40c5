"""Each bill line records the tariff version that priced it (``tariff_version``), as
docs/billing-runs.md says: the notice prints the funds inside a residential price
("其中") from the line's own version, so the two parts of a month split by a fund-rate
change each add up to their own line. Lines written before stay without a version (the
notice takes the version in force at the period's end for them, as before).

A nullable column without a default, a database constraint or an index: PostgreSQL adds
it without rewriting the table, SQLite with ``ALTER TABLE … ADD COLUMN`` (no table rebuild,
so the lines' triggers of 0004/0006 stay), and a run's bulk insert of millions of lines
pays for one more integer only.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0013_refund_approval"),
    ]

    operations = [
        migrations.AddField(
            model_name="billline",
            name="tariff_version",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="bill_lines",
                to="billing.tariffversion",
                verbose_name="tariff version",
            ),
        ),
    ]
