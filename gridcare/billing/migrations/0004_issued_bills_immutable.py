"""An issued bill never changes: database triggers refuse UPDATE and DELETE of an issued
bill and of its lines (PostgreSQL and SQLite). Corrections are BillAdjustment documents."""

from django.db import migrations

PG_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION billing_bill_issued_guard() RETURNS trigger AS $$
    BEGIN
        IF OLD.status = 'issued' THEN
            RAISE EXCEPTION 'an issued bill cannot change'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql;
    """,
    "CREATE TRIGGER billing_bill_issued_guard BEFORE UPDATE OR DELETE ON billing_bill "
    "FOR EACH ROW EXECUTE FUNCTION billing_bill_issued_guard();",
    """
    CREATE OR REPLACE FUNCTION billing_billline_issued_guard() RETURNS trigger AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM billing_bill b WHERE b.id = OLD.bill_id AND b.status = 'issued') THEN
            RAISE EXCEPTION 'the lines of an issued bill cannot change'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql;
    """,
    "CREATE TRIGGER billing_billline_issued_guard BEFORE UPDATE OR DELETE ON billing_billline "
    "FOR EACH ROW EXECUTE FUNCTION billing_billline_issued_guard();",
]
PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS billing_bill_issued_guard ON billing_bill;",
    "DROP FUNCTION IF EXISTS billing_bill_issued_guard();",
    "DROP TRIGGER IF EXISTS billing_billline_issued_guard ON billing_billline;",
    "DROP FUNCTION IF EXISTS billing_billline_issued_guard();",
]
SQLITE_FORWARD = [
    "CREATE TRIGGER billing_bill_issued_no_update BEFORE UPDATE ON billing_bill "
    "WHEN OLD.status = 'issued' BEGIN SELECT RAISE(ABORT, 'an issued bill cannot change'); END;",
    "CREATE TRIGGER billing_bill_issued_no_delete BEFORE DELETE ON billing_bill "
    "WHEN OLD.status = 'issued' BEGIN SELECT RAISE(ABORT, 'an issued bill cannot change'); END;",
    "CREATE TRIGGER billing_billline_issued_no_update BEFORE UPDATE ON billing_billline "
    "WHEN (SELECT status FROM billing_bill WHERE id = OLD.bill_id) = 'issued' "
    "BEGIN SELECT RAISE(ABORT, 'the lines of an issued bill cannot change'); END;",
    "CREATE TRIGGER billing_billline_issued_no_delete BEFORE DELETE ON billing_billline "
    "WHEN (SELECT status FROM billing_bill WHERE id = OLD.bill_id) = 'issued' "
    "BEGIN SELECT RAISE(ABORT, 'the lines of an issued bill cannot change'); END;",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS billing_bill_issued_no_update;",
    "DROP TRIGGER IF EXISTS billing_bill_issued_no_delete;",
    "DROP TRIGGER IF EXISTS billing_billline_issued_no_update;",
    "DROP TRIGGER IF EXISTS billing_billline_issued_no_delete;",
]


def forward(apps, schema_editor):
    statements = PG_FORWARD if schema_editor.connection.vendor == "postgresql" else SQLITE_FORWARD
    for sql in statements:
        schema_editor.execute(sql)


def backward(apps, schema_editor):
    statements = PG_BACKWARD if schema_editor.connection.vendor == "postgresql" else SQLITE_BACKWARD
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_roles")]

    operations = [migrations.RunPython(forward, backward)]
