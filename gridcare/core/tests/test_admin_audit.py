"""Changes made in the Django admin are audited like the services' own (who, before, after)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

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


# --- users and role groups -------------------------------------------------------------------------

AUTH_ADMIN = "/django-admin/auth"


def test_a_permission_granted_to_a_role_group_in_the_admin_is_audited_with_what_changed(client, root):
    group = Group.objects.get(name="hotline_agent")
    granted = sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all())
    perm = Permission.objects.get(codename="view_reporteridentity")
    ids = [*group.permissions.values_list("pk", flat=True), perm.pk]
    response = client.post(f"{AUTH_ADMIN}/group/{group.pk}/change/", {"name": group.name, "permissions": ids})
    assert response.status_code == 302, response.content[:2000]
    assert group.permissions.filter(pk=perm.pk).exists()
    row = AuditEvent.objects.get(action="admin.change", object_type="auth.group")
    assert (row.actor, row.object_id, row.object_repr) == (root, str(group.pk), "hotline_agent")
    assert row.before["permissions"] == granted
    assert row.after["permissions"] == sorted([*granted, "workorders.view_reporteridentity"])


def test_a_user_added_in_the_admin_is_audited_without_the_password_hash(client, root):
    response = client.post(
        f"{AUTH_ADMIN}/user/add/",
        {
            "username": "zhangsan",
            "password1": "Str0ng-pass-word!",
            "password2": "Str0ng-pass-word!",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    user = get_user_model().objects.get(username="zhangsan")
    assert user.check_password("Str0ng-pass-word!")  # hashed by Django's user admin
    row = AuditEvent.objects.get(action="admin.add", object_type="auth.user")
    assert (row.actor, row.object_id, row.before) == (root, str(user.pk), None)
    assert row.after["username"] == "zhangsan"
    assert (row.after["groups"], row.after["user_permissions"]) == ([], [])
    assert "password" not in row.after
    assert user.password not in json.dumps(row.after)


def test_a_role_given_to_a_user_in_the_admin_is_audited(client, root, make_user):
    user = make_user(username="lisi", roles=["hotline_agent"])
    manager = Group.objects.get(name="service_manager")
    data = {
        "username": "lisi",
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "groups": [*user.groups.values_list("pk", flat=True), manager.pk],
        "date_joined_0": "2026-10-12",
        "date_joined_1": "09:00:00",
        "initial-date_joined_0": "2026-10-12",
        "initial-date_joined_1": "09:00:00",
    }
    response = client.post(f"{AUTH_ADMIN}/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    row = AuditEvent.objects.get(action="admin.change", object_type="auth.user")
    assert (row.before["groups"], row.after["groups"]) == (
        ["hotline_agent"],
        ["hotline_agent", "service_manager"],
    )
    assert "password" not in row.before


def test_a_password_set_in_the_admin_is_audited_as_set(client, root, make_user):
    user = make_user(username="lisi", roles=["hotline_agent"])
    response = client.post(
        f"{AUTH_ADMIN}/user/{user.pk}/password/",
        {"password1": "An0ther-pass-word!", "password2": "An0ther-pass-word!", "set_usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:2000]
    user.refresh_from_db()
    assert user.check_password("An0ther-pass-word!")
    row = AuditEvent.objects.get(action="admin.password_change")
    assert (row.actor, row.object_id, row.before, row.after) == (
        root,
        str(user.pk),
        None,
        {"usable_password": True},
    )


def test_a_refused_password_form_writes_no_audit_row(client, root, make_user):
    user = make_user(username="lisi", roles=["hotline_agent"])
    response = client.post(
        f"{AUTH_ADMIN}/user/{user.pk}/password/",
        {"password1": "An0ther-pass-word!", "password2": "different", "set_usable_password": "true"},
    )
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(object_type="auth.user").exists()
