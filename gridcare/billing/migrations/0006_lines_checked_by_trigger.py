"""Bills keep their references to the account and the run, and bill lines to the bill,
enforced by triggers instead of per-row foreign keys; the single-column indexes on
``billing_bill.account_id`` / ``run_id`` and ``billing_billline.bill_id`` go (the unique
(account, period), the (run, status) and the unique (bill, seq) indexes lead with the same
columns).

Why: a billing run writes about 2.5 lines per bill, millions a month; the deferred foreign
key checked every line at commit, one lookup and one row lock on its bill each, which was
the largest single cost of a run on PostgreSQL; the bill's account and run keys cost
a lookup and a lock per bill the same way.

PostgreSQL: statement-level AFTER INSERT / UPDATE triggers check every new line (bill) of
the statement at once against ``billing_bill`` (``customers_account``,
``billing_billingrun``), and statement-level AFTER DELETE triggers refuse to delete a bill
that still has lines (the services delete a draft's lines first, as Django's cascade
does) and an account or a run that still has bills (PROTECT, as the models say).
SQLite: BEFORE INSERT / UPDATE row triggers (cheap there); no delete guards (the test
flush there empties the tables one by one in no particular order; the models' PROTECT and
CASCADE still apply), as for readings in metering 0006. The issued-bill guards of 0004
are created again because SQLite rebuilds both tables here.
All raise like a foreign-key violation.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

# Each check gathers the statement's distinct keys into an array and counts them in the
# referenced table with ``= ANY`` (an index scan, at worst one sequential scan): no join
# plan that the planner could turn into a nested loop over stale statistics.
PG_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION billing_billline_bill_exists() RETURNS trigger AS $$
    DECLARE
        ids bigint[];
    BEGIN
        SELECT array_agg(DISTINCT bill_id) INTO ids FROM new_rows;
        IF ids IS NOT NULL
            AND (SELECT count(*) FROM billing_bill WHERE id = ANY (ids)) <> cardinality(ids) THEN
            RAISE foreign_key_violation
                USING MESSAGE = 'billing_billline.bill_id refers to no billing_bill row';
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql;
    """,
    "CREATE TRIGGER billing_billline_bill_fk_ins AFTER INSERT ON billing_billline "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION billing_billline_bill_exists();",
    "CREATE TRIGGER billing_billline_bill_fk_upd AFTER UPDATE ON billing_billline "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION billing_billline_bill_exists();",
    """
    CREATE OR REPLACE FUNCTION billing_bill_refs_exist() RETURNS trigger AS $$
    DECLARE
        ids bigint[];
    BEGIN
        SELECT array_agg(DISTINCT account_id) INTO ids FROM new_rows;
        IF ids IS NOT NULL
            AND (SELECT count(*) FROM customers_account WHERE id = ANY (ids)) <> cardinality(ids) THEN
            RAISE foreign_key_violation
                USING MESSAGE = 'billing_bill.account_id refers to no customers_account row';
        END IF;
        SELECT array_agg(DISTINCT run_id) INTO ids FROM new_rows WHERE run_id IS NOT NULL;
        IF ids IS NOT NULL
            AND (SELECT count(*) FROM billing_billingrun WHERE id = ANY (ids)) <> cardinality(ids) THEN
            RAISE foreign_key_violation
                USING MESSAGE = 'billing_bill.run_id refers to no billing_billingrun row';
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql;
    """,
    "CREATE TRIGGER billing_bill_refs_ins AFTER INSERT ON billing_bill "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION billing_bill_refs_exist();",
    "CREATE TRIGGER billing_bill_refs_upd AFTER UPDATE ON billing_bill "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION billing_bill_refs_exist();",
    # Deleting what is still referenced: checked after the statement over its deleted keys.
    """
    CREATE OR REPLACE FUNCTION billing_bill_keep_if_lines() RETURNS trigger AS $$
    DECLARE
        ids bigint[];
    BEGIN
        SELECT array_agg(id) INTO ids FROM old_rows;
        IF ids IS NOT NULL AND EXISTS (SELECT 1 FROM billing_billline WHERE bill_id = ANY (ids)) THEN
            RAISE foreign_key_violation USING MESSAGE = 'billing_bill row still has lines';
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql;
    """,
    "CREATE TRIGGER billing_bill_keep_if_lines AFTER DELETE ON billing_bill "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION billing_bill_keep_if_lines();",
    """
    CREATE OR REPLACE FUNCTION billing_account_keep_if_billed() RETURNS trigger AS $$
    DECLARE
        ids bigint[];
    BEGIN
        SELECT array_agg(id) INTO ids FROM old_rows;
        IF ids IS NOT NULL AND EXISTS (SELECT 1 FROM billing_bill WHERE account_id = ANY (ids)) THEN
            RAISE foreign_key_violation USING MESSAGE = 'customers_account row still has bills';
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql;
    """,
    "CREATE TRIGGER billing_account_keep_if_billed AFTER DELETE ON customers_account "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION billing_account_keep_if_billed();",
    """
    CREATE OR REPLACE FUNCTION billing_run_keep_if_billed() RETURNS trigger AS $$
    DECLARE
        ids bigint[];
    BEGIN
        SELECT array_agg(id) INTO ids FROM old_rows;
        IF ids IS NOT NULL AND EXISTS (SELECT 1 FROM billing_bill WHERE run_id = ANY (ids)) THEN
            RAISE foreign_key_violation USING MESSAGE = 'billing_billingrun row still has bills';
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql;
    """,
    "CREATE TRIGGER billing_run_keep_if_billed AFTER DELETE ON billing_billingrun "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION billing_run_keep_if_billed();",
]
PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS billing_billline_bill_fk_ins ON billing_billline;",
    "DROP TRIGGER IF EXISTS billing_billline_bill_fk_upd ON billing_billline;",
    "DROP FUNCTION IF EXISTS billing_billline_bill_exists();",
    "DROP TRIGGER IF EXISTS billing_bill_refs_ins ON billing_bill;",
    "DROP TRIGGER IF EXISTS billing_bill_refs_upd ON billing_bill;",
    "DROP FUNCTION IF EXISTS billing_bill_refs_exist();",
    "DROP TRIGGER IF EXISTS billing_bill_keep_if_lines ON billing_bill;",
    "DROP FUNCTION IF EXISTS billing_bill_keep_if_lines();",
    "DROP TRIGGER IF EXISTS billing_account_keep_if_billed ON customers_account;",
    "DROP FUNCTION IF EXISTS billing_account_keep_if_billed();",
    "DROP TRIGGER IF EXISTS billing_run_keep_if_billed ON billing_billingrun;",
    "DROP FUNCTION IF EXISTS billing_run_keep_if_billed();",
]
SQLITE_FORWARD = [
    "CREATE TRIGGER billing_billline_bill_fk_ins BEFORE INSERT ON billing_billline "
    "WHEN NOT EXISTS (SELECT 1 FROM billing_bill WHERE id = NEW.bill_id) "
    "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: billing_billline.bill_id'); END;",
    "CREATE TRIGGER billing_billline_bill_fk_upd BEFORE UPDATE OF bill_id ON billing_billline "
    "WHEN NOT EXISTS (SELECT 1 FROM billing_bill WHERE id = NEW.bill_id) "
    "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: billing_billline.bill_id'); END;",
    "CREATE TRIGGER billing_bill_account_fk_ins BEFORE INSERT ON billing_bill "
    "WHEN NOT EXISTS (SELECT 1 FROM customers_account WHERE id = NEW.account_id) "
    "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: billing_bill.account_id'); END;",
    "CREATE TRIGGER billing_bill_account_fk_upd BEFORE UPDATE OF account_id ON billing_bill "
    "WHEN NOT EXISTS (SELECT 1 FROM customers_account WHERE id = NEW.account_id) "
    "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: billing_bill.account_id'); END;",
    "CREATE TRIGGER billing_bill_run_fk_ins BEFORE INSERT ON billing_bill "
    "WHEN NEW.run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM billing_billingrun WHERE id = NEW.run_id) "
    "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: billing_bill.run_id'); END;",
    "CREATE TRIGGER billing_bill_run_fk_upd BEFORE UPDATE OF run_id ON billing_bill "
    "WHEN NEW.run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM billing_billingrun WHERE id = NEW.run_id) "
    "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: billing_bill.run_id'); END;",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS billing_bill_account_fk_ins;",
    "DROP TRIGGER IF EXISTS billing_bill_account_fk_upd;",
    "DROP TRIGGER IF EXISTS billing_bill_run_fk_ins;",
    "DROP TRIGGER IF EXISTS billing_bill_run_fk_upd;",
    "DROP TRIGGER IF EXISTS billing_billline_bill_fk_ins;",
    "DROP TRIGGER IF EXISTS billing_billline_bill_fk_upd;",
]


def _issued_guards():
    return importlib.import_module("gridcare.billing.migrations.0004_issued_bills_immutable")


def sqlite_guards_off(apps, schema_editor):
    """SQLite cannot rebuild a table that another table's trigger names: the 0004 guards go
    before the rebuild and come back after it (``forwards``)."""
    if schema_editor.connection.vendor == "sqlite":
        for sql in _issued_guards().SQLITE_BACKWARD:
            schema_editor.execute(sql)


def sqlite_guards_on(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in _issued_guards().SQLITE_FORWARD:
            schema_editor.execute(sql)


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = PG_FORWARD
    elif vendor == "sqlite":
        statements = [*_issued_guards().SQLITE_FORWARD, *SQLITE_FORWARD]
    else:
        statements = []
    for sql in statements:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = PG_BACKWARD
    elif vendor == "sqlite":
        statements = [*SQLITE_BACKWARD, *_issued_guards().SQLITE_BACKWARD]
    else:
        statements = []
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_callback_labels"),
        ("customers", "0003_contract_basic_charge"),
    ]

    operations = [
        migrations.RunPython(sqlite_guards_off, sqlite_guards_on),
        migrations.AlterField(
            model_name="bill",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="bills",
                to="customers.account",
                verbose_name="account",
            ),
        ),
        migrations.AlterField(
            model_name="bill",
            name="run",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="bills",
                to="billing.billingrun",
                verbose_name="run",
            ),
        ),
        migrations.AlterField(
            model_name="billline",
            name="bill",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="lines",
                to="billing.bill",
                verbose_name="bill",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
