"""Readings: the statement-level meter check of migration 0006 looks up each distinct meter
once instead of joining every new row.

The old check joined all rows of the statement to ``metering_meter``; for a 125,000-row
``COPY`` that join cost about as much as the B-tree upkeep (1.5 s per million imported
readings). A file names a few hundred meters per chunk, so taking the distinct meter ids of
the statement first leaves a few hundred index probes. Same guarantee: a row whose meter
does not exist still fails the whole statement like a foreign-key violation.
"""

import importlib

from django.db import migrations

NEW_FUNCTION = """
CREATE OR REPLACE FUNCTION metering_reading_meter_exists() RETURNS trigger AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM (SELECT DISTINCT meter_id FROM new_rows) n
        WHERE NOT EXISTS (SELECT 1 FROM metering_meter m WHERE m.id = n.meter_id)
    ) THEN
        RAISE foreign_key_violation
            USING MESSAGE = 'metering_reading.meter_id refers to no metering_meter row';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

# The function as migration 0006 created it (restored on the way back).
OLD_FUNCTION = importlib.import_module(
    "gridcare.metering.migrations.0006_reading_meter_checked_by_trigger"
).PG_FORWARD[0]


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(NEW_FUNCTION)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OLD_FUNCTION)


class Migration(migrations.Migration):
    dependencies = [("metering", "0008_reading_natural_primary_key")]

    operations = [migrations.RunPython(forward, backward)]
