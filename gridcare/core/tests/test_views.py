"""Console shell pages: login (with throttling), logout, dashboard, audit log, error pages."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from gridcare.core.audit import audit_record
from gridcare.core.engine.ids import id_check_char
from gridcare.core.errors import LoginThrottled
from gridcare.core.models import LoginThrottle
from gridcare.customers import services

pytestmark = pytest.mark.django_db

PASSWORD = "Console-pass-2024"


def make_user(username: str, *roles: str) -> Any:
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, first_name="测试")
    user.groups.add(*Group.objects.filter(name__in=roles))
    return user


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_customer_with_login(username: str = "wangwu") -> Any:
    first17 = "11010519850612123"
    customer = services.customer_create(
        actor="test",
        kind="person",
        name="王五",
        mobile="13800001111",
        id_number=first17 + id_check_char(first17),
    )
    return services.customer_portal_login_create(
        actor="test", customer=customer, username=username, password=PASSWORD
    )


def make_archive() -> None:
    sub = services.substation_create(actor="test", code="S01", name="城关变")
    feeder = services.feeder_create(actor="test", code="F01", name="城关一线", substation=sub)
    tr = services.transformer_create(
        actor="test", code="T01", name="东街1号台区", feeder=feeder, capacity_kva=400, area_type="urban"
    )
    first17 = "11010519900307001"
    customer = services.customer_create(
        actor="test",
        kind="person",
        name="张三",
        mobile="13800002222",
        id_number=first17 + id_check_char(first17),
    )
    for klass, prepaid in [("urban_res", True), ("urban_res", False), ("general_ic", False)]:
        sp = services.service_point_create(actor="test", address="东街1号", transformer=tr)
        services.account_open(
            actor="test",
            customer=customer,
            service_point=sp,
            customer_class=klass,
            voltage_level="220v",
            is_prepaid=prepaid,
        )


# --- login ---------------------------------------------------------------------------------------


def test_login_page_renders(client: Client) -> None:
    response = client.get(reverse("core:login"))
    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()


def test_staff_login_lands_on_dashboard(client: Client) -> None:
    make_user("clerk", "counter_clerk")
    response = client.post(reverse("core:login"), {"username": "clerk", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("core:home")
    assert client.session["_auth_user_id"]


def test_customer_login_lands_in_portal(client: Client) -> None:
    make_customer_with_login("wangwu")
    response = client.post(reverse("core:login"), {"username": "wangwu", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")


def test_login_follows_a_safe_next_only(client: Client) -> None:
    make_user("clerk", "counter_clerk")
    response = client.post(
        reverse("core:login") + "?next=/audit/", {"username": "clerk", "password": PASSWORD}
    )
    assert response["Location"] == "/audit/"
    client.logout()
    response = client.post(
        reverse("core:login") + "?next=https://evil.example/", {"username": "clerk", "password": PASSWORD}
    )
    assert response["Location"] == reverse("core:home")


def test_wrong_password_is_refused_and_counted(client: Client) -> None:
    make_user("clerk", "counter_clerk")
    response = client.post(reverse("core:login"), {"username": "clerk", "password": "wrong"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert "_auth_user_id" not in client.session
    assert LoginThrottle.objects.get(key="user:clerk").failures == 1


def test_login_locks_after_max_failures_even_with_right_password(client: Client) -> None:
    make_user("clerk", "counter_clerk")
    for _ in range(settings.GRIDCARE_LOGIN_MAX_FAILURES):
        client.post(reverse("core:login"), {"username": "clerk", "password": "wrong"})

    with mock.patch("gridcare.core.views.authenticate") as authenticate:
        response = client.post(reverse("core:login"), {"username": "clerk", "password": PASSWORD})

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    authenticate.assert_not_called()  # the password is not even checked while locked
    errors = response.context["form"].non_field_errors()
    assert str(LoginThrottled.default_message) in [str(e) for e in errors]


def test_successful_login_clears_the_failure_counter(client: Client) -> None:
    make_user("clerk", "counter_clerk")
    client.post(reverse("core:login"), {"username": "clerk", "password": "wrong"})
    client.post(reverse("core:login"), {"username": "clerk", "password": PASSWORD})
    assert not LoginThrottle.objects.filter(key="user:clerk").exists()


def _superuser(username: str = "root") -> Any:
    return get_user_model().objects.create_superuser(username, f"{username}@example.com", PASSWORD)


def test_admin_login_is_the_console_login_and_counts_failures(client: Client) -> None:
    _superuser()
    admin_login = reverse("admin:login")
    for _ in range(settings.GRIDCARE_LOGIN_MAX_FAILURES):
        response = client.post(admin_login, {"username": "root", "password": "wrong"})
        assert response.status_code == 200
    response = client.post(admin_login, {"username": "root", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert LoginThrottle.objects.get(key="user:root").locked_until is not None


def test_a_user_name_locked_on_the_console_is_locked_in_the_admin(client: Client) -> None:
    _superuser()
    for _ in range(settings.GRIDCARE_LOGIN_MAX_FAILURES):
        client.post(reverse("core:login"), {"username": "root", "password": "wrong"})
    response = client.post(
        reverse("admin:login") + "?next=/django-admin/", {"username": "root", "password": PASSWORD}
    )
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_admin_login_signs_in_and_returns_to_the_admin(client: Client) -> None:
    _superuser()
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:login") + "?next=/django-admin/"
    response = client.post(response["Location"], {"username": "root", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/django-admin/"
    assert client.get("/django-admin/").status_code == 200


# --- logout --------------------------------------------------------------------------------------


def test_logout_is_post_only() -> None:
    client = client_for(make_user("clerk", "counter_clerk"))
    response = client.get(reverse("core:logout"))
    assert response.status_code == 405
    assert client.session.get("_auth_user_id")


def test_logout_post_logs_out() -> None:
    client = client_for(make_user("clerk", "counter_clerk"))
    response = client.post(reverse("core:logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("core:login")
    assert "_auth_user_id" not in client.session


# --- dashboard -----------------------------------------------------------------------------------


def test_home_redirects_anonymous_to_login(client: Client) -> None:
    response = client.get(reverse("core:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("core:login"))


def test_home_sends_customers_to_the_portal() -> None:
    response = client_for(make_customer_with_login()).get(reverse("core:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")


def test_home_for_a_user_without_role_is_403() -> None:
    response = client_for(make_user("nobody")).get(reverse("core:home"))
    assert response.status_code == 403


def test_home_shows_figures_and_areas() -> None:
    make_archive()
    response = client_for(make_user("agent", "hotline_agent")).get(reverse("core:home"))
    assert response.status_code == 200
    figures = response.context["figures"]
    assert figures["customers"] == 1
    assert figures["accounts"] == 3
    assert figures["transformers"] == 1
    assert figures["prepaid"] == 1
    by_class = {row.code: row.count for row in figures["by_class"]}
    assert by_class["urban_res"] == 2
    assert by_class["general_ic"] == 1
    assert by_class["large_ind"] == 0
    html = response.content.decode()
    assert "not built yet" in html or "未建设" in html
    assert 'class="nav-disabled"' in html


def test_sidebar_shows_audit_link_only_with_permission() -> None:
    agent_html = client_for(make_user("agent", "hotline_agent")).get("/").content.decode()
    auditor_html = client_for(make_user("aud", "auditor")).get("/").content.decode()
    assert reverse("core:audit") not in agent_html
    assert reverse("core:audit") in auditor_html


def test_header_shows_user_roles_and_language_switcher() -> None:
    html = client_for(make_user("agent", "hotline_agent")).get("/").content.decode()
    assert "95598" in html
    assert 'action="/i18n/setlang/"' in html
    assert 'name="next" value="/"' in html


# --- audit log -----------------------------------------------------------------------------------


def test_audit_redirects_anonymous_to_login(client: Client) -> None:
    response = client.get(reverse("core:audit"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("core:login"))


def test_audit_is_403_for_hotline_agent() -> None:
    response = client_for(make_user("agent", "hotline_agent")).get(reverse("core:audit"))
    assert response.status_code == 403


def test_audit_is_403_for_customers() -> None:
    response = client_for(make_customer_with_login()).get(reverse("core:audit"))
    assert response.status_code == 403


def test_audit_lists_events_with_before_and_after_for_auditor() -> None:
    auditor = make_user("aud", "auditor")
    make_archive()
    response = client_for(auditor).get(reverse("core:audit"))
    assert response.status_code == 200
    assert response.context["page"].paginator.count > 0
    assert "account.open" in response.content.decode()


def test_audit_filters() -> None:
    auditor = make_user("aud", "auditor")
    actor = make_user("clerk", "counter_clerk")
    make_archive()
    customer = services.customer_create(
        actor=actor,
        kind="person",
        name="赵六",
        mobile="13800003333",
        id_number="11010519900307002" + id_check_char("11010519900307002"),
    )
    services.customer_update(actor=actor, customer_id=customer.pk, version=1, mobile="13900003333")
    client = client_for(auditor)

    response = client.get(reverse("core:audit"), {"action": "customer."})
    actions = {event.action for event, _ in response.context["rows"]}
    assert actions == {"customer.create", "customer.update"}

    response = client.get(reverse("core:audit"), {"actor": "测试", "action": "customer.update"})
    rows = response.context["rows"]
    assert len(rows) == 1
    event, changes = rows[0]
    assert [(c.key, c.before, c.after) for c in changes] == [("mobile", "13800003333", "13900003333")]
    assert "13900003333" in response.content.decode()

    response = client.get(
        reverse("core:audit"), {"object_type": "customers.customer", "object_id": str(customer.pk)}
    )
    assert {e.object_id for e, _ in response.context["rows"]} == {str(customer.pk)}
    assert len(response.context["rows"]) == 2


def test_audit_date_range_and_bad_range() -> None:
    auditor = make_user("aud", "auditor")
    make_archive()
    client = client_for(auditor)
    response = client.get(reverse("core:audit"), {"date_from": "2000-01-01", "date_to": "2000-01-02"})
    assert response.context["page"].paginator.count == 0
    response = client.get(reverse("core:audit"), {"date_from": "2000-01-05", "date_to": "2000-01-02"})
    assert response.status_code == 200
    assert response.context["form"].errors["date_to"]


def test_audit_is_paginated() -> None:
    auditor = make_user("aud", "auditor")
    for i in range(30):
        audit_record(actor="seed", obj=auditor, action=f"test.event{i}")
    response = client_for(auditor).get(reverse("core:audit"), {"action": "test."})
    assert len(response.context["rows"]) == 25
    html = response.content.decode()
    assert 'class="pagination"' in html
    response = client_for(auditor).get(reverse("core:audit"), {"action": "test.", "page": 2})
    assert len(response.context["rows"]) == 5


# --- error pages and languages ------------------------------------------------------------------


def test_404_page_uses_the_layout(client: Client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "gridcare.css" in response.content.decode()


def test_403_page_uses_the_layout() -> None:
    response = client_for(make_user("agent", "hotline_agent")).get(reverse("core:audit"))
    assert response.status_code == 403
    assert "gridcare.css" in response.content.decode()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_console_page_renders_in_both_languages(language: str) -> None:
    make_archive()
    client = client_for(make_user("aud", "auditor"))
    client.cookies["django_language"] = language
    for url in [reverse("core:home"), reverse("core:audit")]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert f'<html lang="{language}">' in response.content.decode()
    anonymous = Client()
    anonymous.cookies["django_language"] = language
    response = anonymous.get(reverse("core:login"))
    assert response.status_code == 200
    assert f'<html lang="{language}">' in response.content.decode()


def test_language_switch_posts_back_to_the_page() -> None:
    client = client_for(make_user("agent", "hotline_agent"))
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.cookies["django_language"].value == "en"


def test_audit_masks_id_numbers_for_auditors() -> None:
    make_archive()
    id_number = "11010519900307001" + id_check_char("11010519900307001")
    html = (
        client_for(make_user("aud", "auditor"))
        .get(reverse("core:audit"), {"action": "customer.create"})
        .content.decode()
    )
    assert id_number not in html
    assert id_number[:3] + "*" * 11 + id_number[-4:] in html


def test_audit_page_query_count_does_not_grow_with_rows(django_assert_num_queries) -> None:
    auditor = make_user("aud", "auditor")
    for i in range(40):
        audit_record(actor=auditor, obj=auditor, action=f"test.event{i}", after={"n": i})
    client = client_for(auditor)
    # session, user with its roles, permissions (x2), object types, count, page
    with django_assert_num_queries(7):
        response = client.get(reverse("core:audit"))
    assert len(response.context["rows"]) == 25


@pytest.mark.django_db
@pytest.mark.parametrize(
    "role",
    ["counter_clerk", "hotline_agent", "billing_clerk", "metering_tech", "inspector", "repair_dispatcher"],
)
def test_the_dashboard_links_only_pages_the_role_may_open(staff_client: Any, role: str) -> None:
    # The sidebar and the "Service areas" card linked every built area whatever the role:
    # a meter technician got 403 on 抄表收费 (runs) and 用电检查 (risk list).
    import re

    client = staff_client(roles=[role])
    html = client.get(reverse("core:home")).content.decode()
    hrefs = sorted(set(re.findall(r'href="(/[^"#?]*)', html)))
    forbidden = [
        href
        for href in hrefs
        if not href.startswith(("/static/", "/logout", "/i18n/")) and client.get(href).status_code == 403
    ]
    assert forbidden == []


@pytest.mark.django_db
def test_an_area_links_the_page_the_role_may_open_or_says_no_access(staff_client: Any) -> None:
    html = staff_client(roles=["metering_tech"]).get(reverse("core:home")).content.decode()
    assert f'href="{reverse("billing:bills")}"' in html  # bills, not the runs it may not open
    assert f'href="{reverse("billing:runs")}"' not in html
    assert "no access" in html or "无权限" in html
