"""Readings keep their reference to the meter, enforced by triggers instead of a per-row
foreign key (see the comment on ``Reading.meter``).

PostgreSQL: a statement-level AFTER INSERT / UPDATE trigger checks every new row of the
statement at once against ``metering_meter`` (one anti-join on the transition table), and a
BEFORE DELETE row trigger on ``metering_meter`` refuses to delete a meter that has readings.
SQLite: a BEFORE INSERT / UPDATE row trigger (cheap there). Both raise like a foreign-key
violation.
"""

import django.db.models.deletion
from django.db import migrations, models

PG_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION metering_reading_meter_exists() RETURNS trigger AS $$
    BEGIN
        IF EXISTS (
            SELECT 1 FROM new_rows n LEFT JOIN metering_meter m ON m.id = n.meter_id
            WHERE m.id IS NULL
        ) THEN
            RAISE foreign_key_violation
                USING MESSAGE = 'metering_reading.meter_id refers to no metering_meter row';
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql;
    """,
    "CREATE TRIGGER metering_reading_meter_fk_ins AFTER INSERT ON metering_reading "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION metering_reading_meter_exists();",
    "CREATE TRIGGER metering_reading_meter_fk_upd AFTER UPDATE ON metering_reading "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION metering_reading_meter_exists();",
    """
    CREATE OR REPLACE FUNCTION metering_meter_keep_if_read() RETURNS trigger AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM metering_reading r WHERE r.meter_id = OLD.id) THEN
            RAISE foreign_key_violation
                USING MESSAGE = 'metering_meter row still has readings';
        END IF;
        RETURN OLD;
    END;
    $$ LANGUAGE plpgsql;
    """,
    "CREATE TRIGGER metering_meter_keep_if_read BEFORE DELETE ON metering_meter "
    "FOR EACH ROW EXECUTE FUNCTION metering_meter_keep_if_read();",
]
PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS metering_reading_meter_fk_ins ON metering_reading;",
    "DROP TRIGGER IF EXISTS metering_reading_meter_fk_upd ON metering_reading;",
    "DROP FUNCTION IF EXISTS metering_reading_meter_exists();",
    "DROP TRIGGER IF EXISTS metering_meter_keep_if_read ON metering_meter;",
    "DROP FUNCTION IF EXISTS metering_meter_keep_if_read();",
]
SQLITE_FORWARD = [
    "CREATE TRIGGER metering_reading_meter_fk_ins BEFORE INSERT ON metering_reading "
    "WHEN NOT EXISTS (SELECT 1 FROM metering_meter WHERE id = NEW.meter_id) "
    "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: metering_reading.meter_id'); END;",
    "CREATE TRIGGER metering_reading_meter_fk_upd BEFORE UPDATE OF meter_id ON metering_reading "
    "WHEN NOT EXISTS (SELECT 1 FROM metering_meter WHERE id = NEW.meter_id) "
    "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: metering_reading.meter_id'); END;",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS metering_reading_meter_fk_ins;",
    "DROP TRIGGER IF EXISTS metering_reading_meter_fk_upd;",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in PG_FORWARD if vendor == "postgresql" else SQLITE_FORWARD if vendor == "sqlite" else []:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in PG_BACKWARD if vendor == "postgresql" else SQLITE_BACKWARD if vendor == "sqlite" else []:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("metering", "0005_reading_bulk_friendly_keys"),
    ]

    operations = [
        migrations.AlterField(
            model_name="reading",
            name="meter",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="readings",
                to="metering.meter",
                verbose_name="meter",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
