"""The audit trail (审计日志): rows written by audit_record, append-only in the database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from gridcare.core.audit import audit_record, diff, snapshot
from gridcare.core.models import AuditEvent, CalendarDay
from gridcare.core.services import calendar_day_set

pytestmark = pytest.mark.django_db


def _calendar_day() -> CalendarDay:
    return CalendarDay.objects.create(date=dt.date(2027, 1, 1), is_workday=False, name="元旦")


def test_audit_record_writes_who_what_before_and_after(make_user) -> None:
    # Given a clerk and an object
    clerk = make_user(roles=["service_manager"], username="wang", first_name="五", last_name="王")
    day = _calendar_day()
    # When a change is recorded
    event = audit_record(
        actor=clerk,
        obj=day,
        action="calendar.set",
        before={"is_workday": True, "amount": Decimal("1.50")},
        after={"is_workday": False, "on": dt.date(2027, 1, 1)},
        reason="国务院办公厅通知",
    )
    # Then exactly one row holds who, what and the JSON-safe before/after
    assert AuditEvent.objects.count() == 1
    row = AuditEvent.objects.get()
    assert row.pk == event.pk
    assert row.actor == clerk
    assert row.actor_label == "王五"  # family name first, no space
    assert row.object_type == "core.calendarday"
    assert row.object_id == str(day.pk)
    assert row.object_repr == str(day)
    assert row.action == "calendar.set"
    assert row.before == {"is_workday": True, "amount": "1.50"}
    assert row.after == {"is_workday": False, "on": "2027-01-01"}
    assert row.reason == "国务院办公厅通知"
    assert row.at is not None
    assert row.at.tzinfo is not None


def test_audit_record_by_a_system_process_names_it() -> None:
    event = audit_record(actor="seed", obj=_calendar_day(), action="calendar.set")
    assert event.actor is None
    assert event.actor_label == "seed"
    assert event.before is None
    assert event.after is None


def test_audit_record_with_username_when_no_full_name(make_user) -> None:
    clerk = make_user(roles=["counter_clerk"], username="clerk7")
    event = audit_record(actor=clerk, obj=_calendar_day(), action="x")
    assert event.actor_label == "clerk7"


def test_snapshot_and_diff() -> None:
    day = _calendar_day()
    before = snapshot(day, ("is_workday", "name"))
    assert before == {"is_workday": False, "name": "元旦"}
    assert snapshot(day)["date"] == "2027-01-01"
    assert diff(before, {"is_workday": True, "name": "元旦"}) == (
        {"is_workday": False},
        {"is_workday": True},
    )


def test_database_refuses_update_of_an_audit_event() -> None:
    # Given a recorded event
    event = audit_record(actor="seed", obj=_calendar_day(), action="calendar.set", reason="原因")
    # When someone rewrites history through the ORM, by queryset or by save()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(reason="篡改")
    event.reason = "篡改"
    with pytest.raises(DatabaseError), transaction.atomic():
        event.save()
    # Then the row is unchanged
    assert AuditEvent.objects.get(pk=event.pk).reason == "原因"


def test_database_refuses_raw_sql_update_of_an_audit_event() -> None:
    event = audit_record(actor="seed", obj=_calendar_day(), action="calendar.set")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET action = 'x' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "calendar.set"


@pytest.mark.postgresql
def test_postgresql_refuses_delete_of_an_audit_event() -> None:
    # DELETE is refused by the trigger on PostgreSQL only (the SQLite pass deselects this)
    assert connection.vendor == "postgresql"
    event = audit_record(actor="seed", obj=_calendar_day(), action="calendar.set")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_calendar_day_set_writes_an_audit_row(make_user) -> None:
    manager = make_user(roles=["service_manager"], username="manager")
    # When a new override is entered
    day = calendar_day_set(
        actor=manager,
        date=dt.date(2027, 2, 6),
        is_workday=True,
        name="春节调休上班",
        source="国办发明电〔2026〕1号",
    )
    # Then one audit row records it with no "before"
    first = AuditEvent.objects.get()
    assert (first.actor, first.action, first.object_type, first.object_id) == (
        manager,
        "calendar.set",
        "core.calendarday",
        str(day.pk),
    )
    assert first.before is None
    assert first.after == {"is_workday": True, "name": "春节调休上班", "source": "国办发明电〔2026〕1号"}
    # When it is changed
    calendar_day_set(actor=manager, date=dt.date(2027, 2, 6), is_workday=False, name="更正")
    # Then a second row records before and after
    second = AuditEvent.objects.order_by("-id").first()
    assert second is not None
    assert AuditEvent.objects.count() == 2
    assert second.before == {"is_workday": True, "name": "春节调休上班", "source": "国办发明电〔2026〕1号"}
    assert second.after == {"is_workday": False, "name": "更正", "source": ""}
