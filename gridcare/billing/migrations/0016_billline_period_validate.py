"""Validate the bill lines' period check that 0012 added ``NOT VALID`` on PostgreSQL.

``VALIDATE CONSTRAINT`` scans the existing lines under a SHARE UPDATE EXCLUSIVE lock only:
bill pages, notices, payments and runs read and write the lines meanwhile (the ``ADD
CONSTRAINT`` of a checked constraint would have held ACCESS EXCLUSIVE for the whole scan).
It runs in this migration's own transaction, after 0012's has committed. On a database
where 0012 already added the check validated it is a no-op. Other databases: nothing to do
(SQLite checked the lines when 0012 rebuilt the table). The migration state does not change.
"""

from django.db import migrations

TABLE = "billing_billline"
CONSTRAINT = "bill_line_period_valid"


def validate_period_check(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"ALTER TABLE {schema_editor.quote_name(TABLE)} "
            f"VALIDATE CONSTRAINT {schema_editor.quote_name(CONSTRAINT)}"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0015_latefeewaiver_used_by"),
    ]

    operations = [
        # Backwards: nothing to undo (0012's reversal drops the check).
        migrations.RunPython(validate_period_check, migrations.RunPython.noop),
    ]
