"""Readings: the B-tree on ``day`` gives way to a BRIN index on PostgreSQL.

Every reading query names its meter, which the unique (meter, register, day) key serves.
Day-range scans across all meters (nightly jobs, line-loss by day) are what a BRIN index is
for: daily AMI loads keep the table physically in day order, and a BRIN index costs almost
nothing to maintain, where the B-tree cost about a second per million imported readings.
SQLite keeps a plain index on ``day`` (it has no BRIN).
"""

from django.db import migrations


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS reading_day_brin ON metering_reading USING brin (day)"
        )
    else:
        schema_editor.execute("CREATE INDEX IF NOT EXISTS reading_day_plain ON metering_reading (day)")


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    schema_editor.execute("DROP INDEX IF EXISTS reading_day_brin")
    schema_editor.execute("DROP INDEX IF EXISTS reading_day_plain")


class Migration(migrations.Migration):
    dependencies = [("metering", "0006_reading_meter_checked_by_trigger")]

    operations = [
        migrations.RemoveIndex(model_name="reading", name="reading_day_idx"),
        migrations.RunPython(forward, backward),
    ]
