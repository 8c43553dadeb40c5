"""Changes made in the Django admin are audited like the services' own (who, before, after)."""

from __future__ import annotations

import datetime as dt

import pytest

from gridcare.core.models import AuditEvent, CalendarDay, PeriodicJob
from gridcare.core.services import calendar_day_set
from gridcare.core.workdays import working_calendar

pytestmark = pytest.mark.django_db

ADMIN = "/django-admin/core"


@pytest.fixture
def root(client, make_user):
    user = make_user(username="root", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def test_a_calendar_override_changed_or_deleted_in_the_admin_is_audited_and_takes_effect(client, root):
    day = calendar_day_set(actor=root, date=dt.date(2027, 2, 8), is_workday=False, name="春节")
    assert not working_calendar().is_workday(dt.date(2027, 2, 8))
    response = client.post(
        f"{ADMIN}/calendarday/{day.pk}/change/",
        {"date": "2027-02-08", "is_workday": "on", "name": "春节调休", "source": "国办发明电"},
    )
    assert response.status_code == 302
    row = AuditEvent.objects.get(action="admin.change", object_type="core.calendarday")
    assert row.actor == root
    assert (row.before["is_workday"], row.after["is_workday"]) == (False, True)
    assert row.after["name"] == "春节调休"
    assert working_calendar().is_workday(dt.date(2027, 2, 8))  # this process sees it at once
    response = client.post(f"{ADMIN}/calendarday/{day.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not CalendarDay.objects.filter(pk=day.pk).exists()
    gone = AuditEvent.objects.get(action="admin.delete", object_type="core.calendarday")
    assert (gone.before["date"], gone.after) == ("2027-02-08", None)


def test_an_override_added_in_the_admin_is_audited(client, root):
    response = client.post(
        f"{ADMIN}/calendarday/add/", {"date": "2027-10-09", "is_workday": "on", "name": "调休", "source": ""}
    )
    assert response.status_code == 302
    row = AuditEvent.objects.get(action="admin.add", object_type="core.calendarday")
    assert (row.before, row.after["date"], row.after["is_workday"]) == (None, "2027-10-09", True)


def test_a_periodic_job_changed_in_the_admin_is_audited(client, root):
    job = PeriodicJob.objects.create(
        name="sla_tick", task_path="gridcare.workorders.tasks.sla_tick_task", interval_seconds=300
    )
    data = {f: getattr(job, f) for f in ("name", "task_path")}
    response = client.post(
        f"{ADMIN}/periodicjob/{job.pk}/change/",
        {**data, "interval_seconds": "600", "enabled": "", "next_run_at_0": "", "next_run_at_1": ""},
    )
    assert response.status_code == 302, response.content[:2000]
    row = AuditEvent.objects.get(action="admin.change", object_type="core.periodicjob")
    assert (row.before["interval_seconds"], row.after["interval_seconds"]) == (300, 600)
    assert (row.before["enabled"], row.after["enabled"]) == (True, False)
