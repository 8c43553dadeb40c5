"""Migration 0012 adds the bill lines' period check without scanning the table under an
ACCESS EXCLUSIVE lock on PostgreSQL (``NOT VALID``), and 0016 validates it in its own
transaction; SQLite keeps adding it by rebuilding the table (docs/billing-runs.md,
"Upgrading")."""

from __future__ import annotations

import datetime as dt
from importlib import import_module
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from gridcare.billing.tests.factories import BillFactory, BillLineFactory

LINE_TRIGGERS = import_module("gridcare.billing.migrations.0012_billline_period").LINE_TRIGGERS

pytestmark = pytest.mark.django_db

CHECK = "bill_line_period_valid"


def _sql(migration: str) -> str:
    out = StringIO()
    call_command("sqlmigrate", "billing", migration, stdout=out)
    return out.getvalue()


def _statement_adding_the_check(sql: str) -> str:
    return next(line for line in sql.splitlines() if "ADD CONSTRAINT" in line and CHECK in line)


@pytest.mark.postgresql
def test_postgresql_has_the_check_validated_after_migrate():
    # given the test database migrated to the latest migration (0016 validated the check)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.contype, c.convalidated, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "WHERE c.conname = %s AND c.conrelid = 'billing_billline'::regclass",
            [CHECK],
        )
        rows = cursor.fetchall()

    # then the check exists, is validated (it holds for every line) and is the model's
    assert len(rows) == 1
    contype, validated, definition = rows[0]
    assert (contype, validated) == ("c", True)
    assert "NOT VALID" not in definition
    assert "period_from" in definition
    assert "period_to" in definition


def test_a_line_whose_period_is_reversed_is_refused():
    # the check holds for new lines on either database (on PostgreSQL from 0012 on, before
    # 0016 validated the existing ones)
    bill = BillFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        BillLineFactory(bill=bill, period_from=dt.date(2026, 10, 16), period_to=dt.date(2026, 10, 15))

    assert not bill.lines.exists()


def test_0012_adds_the_check_as_the_database_allows():
    if connection.vendor == "postgresql":
        # when 0012's SQL is written, the check is added without checking the existing
        # lines: no full-table scan under the ADD CONSTRAINT's ACCESS EXCLUSIVE lock (0016
        # validates them)
        statement = _statement_adding_the_check(_sql("0012"))
        assert statement.startswith(f'ALTER TABLE "billing_billline" ADD CONSTRAINT "{CHECK}" CHECK')
        assert statement.rstrip(";").endswith("NOT VALID")
    else:
        # SQLite rebuilt the table with the check, as before, and its line triggers (0004,
        # 0006) were created again after the rebuild
        with connection.cursor() as cursor:
            cursor.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'billing_billline'")
            rows = cursor.fetchall()
        table = next(sql for kind, _name, sql in rows if kind == "table")
        assert f'CONSTRAINT "{CHECK}" CHECK' in table
        assert {name for kind, name, _sql in rows if kind == "trigger"} >= set(LINE_TRIGGERS)
