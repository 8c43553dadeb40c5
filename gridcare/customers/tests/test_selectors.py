"""Selectors of the customer archive: search, role scoping, the 360 read and topology counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gridcare.core.errors import NotFound
from gridcare.customers import selectors, services
from gridcare.customers.models import Customer
from gridcare.customers.tests.test_services import (
    make_account,
    make_organisation,
    make_person,
    make_transformer,
    make_user,
    valid_id_number,
)


@pytest.fixture
def archive(db: Any) -> dict[str, Any]:
    """Three customers: 张三 with two accounts, 李四 with one, 城关机械厂 with none."""
    transformer = make_transformer()
    zhang = make_person(name="张三", mobile="13800138000", id_number=valid_id_number(101, born="19800101"))
    li = make_person(
        name="李四",
        mobile="13912345678",
        id_number=valid_id_number(202, born="19750505"),
        postal_address="东关镇邮政信箱8号",
    )
    org = make_organisation(name="城关机械厂", mobile="13600001111")
    zhang_home = make_account(zhang, transformer=transformer, address="城关镇人民路1号")
    zhang_shop = make_account(
        zhang,
        transformer=transformer,
        address="城关镇解放街9号",
        customer_class="general_ic",
        voltage_level="380v",
    )
    li_home = make_account(li, transformer=transformer, address="南门村3组")
    return {
        "zhang": zhang,
        "li": li,
        "org": org,
        "transformer": transformer,
        "zhang_home": zhang_home,
        "zhang_shop": zhang_shop,
        "li_home": li_home,
    }


@pytest.fixture
def clerk(db: Any) -> Any:
    return make_user("counter_clerk")


def names(qs: Any) -> list[str]:
    return [c.name for c in qs]


def _number(key: str, part: slice = slice(None)) -> Callable[[dict[str, Any]], str]:
    return lambda archive: archive[key].number[part]


def _id_tail(key: str, size: int) -> Callable[[dict[str, Any]], str]:
    return lambda archive: archive[key].id_number[-size:]


@pytest.mark.parametrize(
    ("field", "query", "expected"),
    [
        ("number", _number("zhang_shop"), ["张三"]),
        ("all", _number("zhang_shop"), ["张三"]),
        ("all", _number("li_home", slice(0, 9)), ["李四", "张三"]),
        ("name", "李", ["李四"]),
        ("all", "机械", ["城关机械厂"]),
        ("mobile", "139123", ["李四"]),
        ("all", "13912345678", ["李四"]),
        ("id_tail", _id_tail("li", 4), ["李四"]),
        ("all", _id_tail("li", 6), ["李四"]),
        ("all", _id_tail("li", 18), ["李四"]),  # a whole ID number finds its customer
        ("id_tail", _id_tail("zhang", 18), ["张三"]),
        ("all", lambda archive: archive["org"].credit_code, ["城关机械厂"]),  # a whole credit code
        ("all", "１３９１２３４５６７８", ["李四"]),  # full-width digits from an input method
        ("address", "解放街", ["张三"]),
        ("all", "南门村", ["李四"]),
        ("address", "邮政信箱", ["李四"]),
        ("name", "王", []),
    ],
)
def test_customer_search_by_each_field(
    archive: dict[str, Any],
    clerk: Any,
    field: str,
    query: str | Callable[[dict[str, Any]], str],
    expected: list[str],
) -> None:
    q = query if isinstance(query, str) else query(archive)
    assert names(selectors.customer_search(user=clerk, q=q, field=field)) == expected


def test_customer_search_returns_each_customer_once_and_newest_first(
    archive: dict[str, Any], clerk: Any
) -> None:
    # 张三 has two accounts at 城关镇 addresses: the join must not duplicate him
    assert names(selectors.customer_search(user=clerk, q="城关镇", field="address")) == ["张三"]
    assert names(selectors.customer_search(user=clerk, q="")) == ["城关机械厂", "李四", "张三"]


def test_customer_search_unknown_field_falls_back_to_all(archive: dict[str, Any], clerk: Any) -> None:
    assert names(selectors.customer_search(user=clerk, q="李四", field="bogus")) == ["李四"]


def test_customer_search_for_a_customer_user_returns_only_their_own(archive: dict[str, Any]) -> None:
    portal_user = services.customer_portal_login_create(
        actor="test", customer=archive["li"], username="lisi", password="Sgcc-portal-2024"
    )
    assert names(selectors.customer_search(user=portal_user, q="")) == ["李四"]
    assert names(selectors.customer_search(user=portal_user, q="张三", field="name")) == []
    assert names(selectors.customer_search(user=portal_user, q="13800138000")) == []
    assert list(selectors.accounts_visible_to(portal_user)) == [archive["li_home"]]


def test_staff_without_archive_permission_and_anonymous_see_nothing(archive: dict[str, Any]) -> None:
    from django.contrib.auth.models import AnonymousUser

    no_role = make_user(None)
    assert names(selectors.customer_search(user=no_role, q="")) == []
    assert names(selectors.customer_search(user=AnonymousUser(), q="")) == []


def test_customer_get_loads_360_in_fixed_queries(
    archive: dict[str, Any], clerk: Any, django_assert_num_queries: Any
) -> None:
    services.contract_create(
        actor="a",
        account=archive["zhang_home"],
        kind="residential",
        capacity_kva=8,
        start_date=archive["zhang_home"].opened_on,
    )
    selectors.customers_visible_to(clerk)  # warm the role and permission caches
    with django_assert_num_queries(3):  # customer, accounts with topology, contracts
        customer = selectors.customer_get(user=clerk, customer_id=archive["zhang"].pk)
        accounts = list(customer.accounts.all())
        paths = [a.service_point.transformer.feeder.substation.name for a in accounts]
        contracts = [list(a.contracts.all()) for a in accounts]
    assert [a.number for a in accounts] == [archive["zhang_home"].number, archive["zhang_shop"].number]
    assert paths == [archive["transformer"].feeder.substation.name] * 2
    assert [len(c) for c in contracts] == [1, 0]


def test_customer_get_and_account_get_hide_what_the_user_may_not_see(archive: dict[str, Any]) -> None:
    portal_user = services.customer_portal_login_create(
        actor="test", customer=archive["li"], username="lisi", password="Sgcc-portal-2024"
    )
    assert selectors.customer_get(user=portal_user, customer_id=archive["li"].pk).name == "李四"
    with pytest.raises(NotFound):
        selectors.customer_get(user=portal_user, customer_id=archive["zhang"].pk)
    with pytest.raises(NotFound):
        selectors.account_get(user=portal_user, number=archive["zhang_home"].number)
    own = selectors.account_get(user=portal_user, number=archive["li_home"].number)
    assert own.customer == archive["li"]


def test_topology_counts(archive: dict[str, Any]) -> None:
    transformer = archive["transformer"]
    [sub] = [s for s in selectors.substation_tree() if s.pk == transformer.feeder.substation_id]
    assert (sub.feeder_count, sub.transformer_count) == (1, 1)
    [feeder] = selectors.feeders_of(transformer.feeder.substation_id)
    assert (feeder.transformer_count, feeder.account_count) == (1, 3)
    [tr] = selectors.transformers_of(transformer.feeder_id)
    assert tr.account_count == 3
    accounts = list(selectors.accounts_of_transformer(transformer.pk))
    assert [a.customer.name for a in accounts] == ["张三", "张三", "李四"]
    assert Customer.objects.count() == 3
