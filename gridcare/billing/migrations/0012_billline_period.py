"""Bill lines keep the days they cover when that is part of the bill's period only
(``period_from`` – ``period_to``, both null on every other line): the basic-charge lines of
a contract changed inside the month (减容 from the 16th: one line per contract), and of a
period over two months or tariff versions. Lines written before stay without days.

Both columns are nullable without a default: PostgreSQL adds them without rewriting the
table. The check (both null, or both set and ``period_from`` ≤ ``period_to``) is added
``NOT VALID`` on PostgreSQL (:class:`AddCheckNotValid`): new and changed lines are checked
at once, and the existing lines — millions, the largest table — are not scanned under the
ACCESS EXCLUSIVE lock the ``ADD CONSTRAINT`` holds (bill pages, notices and runs would wait
for the scan). Migration 0016 validates it in its own transaction (``VALIDATE CONSTRAINT``,
a SHARE UPDATE EXCLUSIVE lock: reads and writes of the lines go on). Django's migration
state is the same as with a plain ``AddConstraint``.

SQLite adds a check by rebuilding the table, which drops the table's triggers: the lines'
issued-bill guards (0004) and bill-reference checks (0006) are dropped before the rebuild
and created again after it.
"""

import importlib

from django.db import migrations, models

#: The SQLite triggers on billing_billline (the others are on billing_bill and stay).
LINE_TRIGGERS = (
    "billing_billline_issued_no_update",
    "billing_billline_issued_no_delete",
    "billing_billline_bill_fk_ins",
    "billing_billline_bill_fk_upd",
)


def _line_triggers() -> list[str]:
    """The CREATE statements of ``LINE_TRIGGERS``, as migrations 0004 and 0006 wrote them."""
    statements = [
        *importlib.import_module("gridcare.billing.migrations.0004_issued_bills_immutable").SQLITE_FORWARD,
        *importlib.import_module("gridcare.billing.migrations.0006_lines_checked_by_trigger").SQLITE_FORWARD,
    ]
    return [sql for sql in statements if sql.split()[2] in LINE_TRIGGERS]


def sqlite_line_triggers_off(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for name in LINE_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name};")


def sqlite_line_triggers_on(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        sqlite_line_triggers_off(apps, schema_editor)
        for sql in _line_triggers():
            schema_editor.execute(sql)


class AddCheckNotValid(migrations.AddConstraint):
    """``AddConstraint`` of a check that PostgreSQL adds ``NOT VALID`` (no scan of the
    existing rows; a later migration validates it); other databases add it as Django does
    (SQLite rebuilds the table). The migration state is ``AddConstraint``'s."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.execute(f"{self.constraint.create_sql(model, schema_editor)} NOT VALID")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0011_payment_refund"),
    ]

    operations = [
        migrations.AddField(
            model_name="billline",
            name="period_from",
            field=models.DateField(
                blank=True,
                help_text=(
                    "First day of a line covering part of the bill's period only; empty: the whole period."
                ),
                null=True,
                verbose_name="from",
            ),
        ),
        migrations.AddField(
            model_name="billline",
            name="period_to",
            field=models.DateField(blank=True, help_text="Inclusive.", null=True, verbose_name="to"),
        ),
        migrations.RunPython(sqlite_line_triggers_off, sqlite_line_triggers_on),
        AddCheckNotValid(
            model_name="billline",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("period_from__isnull", True), ("period_to__isnull", True)),
                    models.Q(
                        ("period_from__isnull", False),
                        ("period_from__lte", models.F("period_to")),
                        ("period_to__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="bill_line_period_valid",
            ),
        ),
        migrations.RunPython(sqlite_line_triggers_on, sqlite_line_triggers_off),
    ]
