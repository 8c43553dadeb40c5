"""Portal pages: permission matrix (anonymous, staff, own vs another's data) and forms."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from gridcare.core.models import AuditEvent
from gridcare.portal.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


# --- permission matrix ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["portal:home", "portal:profile"])
def test_anonymous_is_sent_to_portal_login(client: Client, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login") + "?next=")


def test_anonymous_account_page_is_sent_to_portal_login(client: Client, customer_a) -> None:
    _, accounts = customer_a
    response = client.get(reverse("portal:account", args=[accounts[0].number]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


@pytest.mark.parametrize("name", ["portal:home", "portal:profile"])
def test_staff_gets_403(staff_user, name: str) -> None:
    response = _client_for(staff_user).get(reverse(name))
    assert response.status_code == 403


def test_staff_gets_403_on_account_page(staff_user, customer_a) -> None:
    _, accounts = customer_a
    response = _client_for(staff_user).get(reverse("portal:account", args=[accounts[0].number]))
    assert response.status_code == 403


def test_customer_sees_only_own_accounts_on_home(customer_a, customer_b) -> None:
    a, a_accounts = customer_a
    _, b_accounts = customer_b
    response = _client_for(a.user).get(reverse("portal:home"))
    assert response.status_code == 200
    html = response.content.decode()
    for account in a_accounts:
        assert account.number in html
    assert b_accounts[0].number not in html


def test_customer_sees_own_account(customer_a) -> None:
    a, accounts = customer_a
    response = _client_for(a.user).get(reverse("portal:account", args=[accounts[0].number]))
    assert response.status_code == 200
    html = response.content.decode()
    assert accounts[0].number in html
    assert "东街1号台区" in html  # the supply path


def test_customer_gets_404_for_another_customers_account(customer_a, customer_b) -> None:
    a, _ = customer_a
    _, b_accounts = customer_b
    response = _client_for(a.user).get(reverse("portal:account", args=[b_accounts[0].number]))
    assert response.status_code == 404
    html = response.content.decode()
    assert b_accounts[0].service_point.address not in html
    assert "李四" not in html
    assert 'class="portal"' in html  # the error page keeps the portal layout


def test_unknown_account_is_the_same_404(customer_a) -> None:
    a, _ = customer_a
    response = _client_for(a.user).get(reverse("portal:account", args=["0599999999"]))
    assert response.status_code == 404


# --- login ------------------------------------------------------------------------------------


def test_portal_login_page_renders(client: Client) -> None:
    response = client.get(reverse("portal:login"))
    assert response.status_code == 200
    assert 'class="portal"' in response.content.decode()


def test_customer_login_lands_in_portal(client: Client, customer_a) -> None:
    response = client.post(reverse("portal:login"), {"username": "zhangsan", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")


def test_customer_logout_returns_to_portal_login(customer_a) -> None:
    a, _ = customer_a
    client = _client_for(a.user)
    response = client.post(reverse("core:logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:login")
    assert "_auth_user_id" not in client.session


# --- profile ------------------------------------------------------------------------------------


def test_profile_shows_masked_id(customer_a) -> None:
    a, _ = customer_a
    response = _client_for(a.user).get(reverse("portal:profile"))
    assert response.status_code == 200
    html = response.content.decode()
    assert a.id_number not in html
    assert a.id_number[:3] + "*" * 11 + a.id_number[-4:] in html


def test_profile_changes_mobile(customer_a) -> None:
    a, _ = customer_a
    response = _client_for(a.user).post(
        reverse("portal:profile"), {"mobile": "13912345678", "version": a.version}
    )
    assert response.status_code == 302
    a.refresh_from_db()
    assert a.mobile == "13912345678"
    assert a.version == 2
    assert AuditEvent.objects.filter(action="customer.update", object_id=str(a.pk)).count() == 1


def test_profile_stale_version_is_a_conflict_and_changes_nothing(customer_a) -> None:
    a, _ = customer_a
    old_mobile = a.mobile
    response = _client_for(a.user).post(
        reverse("portal:profile"), {"mobile": "13912345678", "version": a.version + 5}
    )
    assert response.status_code == 200
    assert "field--error" in response.content.decode()
    assert response.context["form"].errors["mobile"]
    a.refresh_from_db()
    assert a.mobile == old_mobile
    assert a.version == 1


def test_profile_invalid_mobile_is_shown_on_the_field(customer_a) -> None:
    a, _ = customer_a
    response = _client_for(a.user).post(
        reverse("portal:profile"), {"mobile": "12345678901", "version": a.version}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["mobile"]
    a.refresh_from_db()
    assert a.version == 1


# --- both languages -------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_portal_page_renders_in_both_languages(customer_a, language: str) -> None:
    a, accounts = customer_a
    client = _client_for(a.user)
    client.cookies["django_language"] = language
    for url in [
        reverse("portal:home"),
        reverse("portal:profile"),
        reverse("portal:account", args=[accounts[0].number]),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert f'<html lang="{language}">' in response.content.decode()
    anonymous = Client()
    anonymous.cookies["django_language"] = language
    assert anonymous.get(reverse("portal:login")).status_code == 200


# --- query counts -----------------------------------------------------------------------------------


def test_home_query_count_does_not_grow_with_accounts(transformer, django_assert_num_queries) -> None:
    from gridcare.portal.tests.conftest import make_customer

    customer, _ = make_customer(name="赵六", username="zhaoliu", transformer=transformer, accounts=30)
    client = _client_for(customer.user)
    with django_assert_num_queries(4):  # session, user with its roles, account count, the page's accounts
        response = client.get(reverse("portal:home"))
    assert response.status_code == 200


# --- pagination of my accounts ---------------------------------------------------------------------


@pytest.fixture
def organisation_with_many_accounts(transformer) -> tuple[Any, list[str], list[str]]:
    """A customer with 30 accounts numbered between two other customers' accounts: (the
    customer, its 户号, the others' 户号)."""
    from gridcare.portal.tests.conftest import make_customer

    _, before = make_customer(name="李四", username="lisi", transformer=transformer, accounts=2)
    mine, accounts = make_customer(name="城关机械厂", username="jixie", transformer=transformer, accounts=30)
    _, after = make_customer(name="王五", username="wangwu", transformer=transformer, accounts=2)
    return mine, [a.number for a in accounts], [a.number for a in before + after]


def test_home_pages_my_accounts(organisation_with_many_accounts) -> None:
    customer, mine, _ = organisation_with_many_accounts
    client = _client_for(customer.user)

    first = client.get(reverse("portal:home"))
    second = client.get(reverse("portal:home"), {"page": 2})

    assert [a.number for a in first.context["page"].object_list] == mine[:25]
    assert [a.number for a in second.context["page"].object_list] == mine[25:]
    assert first.context["page"].paginator.count == 30
    assert "page=2" in first.content.decode()


@pytest.mark.parametrize(
    "params",
    [{"page": "1"}, {"page": "2"}, {"page": "999"}, {"page": "0"}, {"page": "-1"}, {"page": "x"}]
    + [{"per_page": "200"}, {"page": "3", "per_page": "10"}, {"customer": "1"}],
)
def test_home_never_shows_another_customers_account_whatever_the_parameters(
    organisation_with_many_accounts, params: dict[str, str]
) -> None:
    customer, mine, others = organisation_with_many_accounts

    response = _client_for(customer.user).get(reverse("portal:home"), params)

    assert response.status_code == 200  # a page number out of range shows the first or last page
    shown = [a.number for a in response.context["page"].object_list]
    assert shown
    assert set(shown) <= set(mine)
    html = response.content.decode()
    for number in others:
        assert number not in html
