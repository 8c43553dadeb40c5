"""Selectors of the customer archive: search, role scoping, the 360 read, topology counts and
the contract in force on a day (checked against billing's rule)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gridcare.billing.services.period_data import _contract_parts
from gridcare.core.errors import NotFound
from gridcare.customers import selectors, services
from gridcare.customers.choices import ContractKind, ContractStatus
from gridcare.customers.models import Contract, Customer
from gridcare.customers.tests.factories import AccountFactory, ContractFactory
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


# --- the contract in force on a day -----------------------------------------------------------


def _contract(account: Any, capacity: str, start: dt.date, end: dt.date | None, **kw: Any) -> Contract:
    return ContractFactory(
        account=account,
        kind=kw.pop("kind", ContractKind.HIGH_VOLTAGE),
        capacity_kva=Decimal(capacity),
        start_date=start,
        end_date=end,
        **kw,
    )


def test_contract_in_force_takes_the_latest_starting_contract_covering_the_day(
    db: Any, django_assert_num_queries: Any
) -> None:
    # given 400 kVA, a 临时增容 to 630 kVA from 10 to 20 March and a 减容 to 250 kVA from April
    account = AccountFactory()
    base = _contract(account, "400.0", dt.date(2024, 1, 1), None)
    temporary = _contract(
        account, "630.0", dt.date(2026, 3, 10), dt.date(2026, 3, 20), kind=ContractKind.TEMPORARY
    )
    reduced = _contract(account, "250.0", dt.date(2026, 4, 1), None)
    _contract(account, "800.0", dt.date(2026, 3, 1), None, status=ContractStatus.DRAFT)  # not signed

    def in_force(day: dt.date) -> Contract | None:
        return selectors.contract_in_force(account_id=account.pk, day=day)

    # then each day has its own contract
    assert in_force(dt.date(2026, 3, 9)) == base
    assert in_force(dt.date(2026, 3, 10)) == temporary
    assert in_force(dt.date(2026, 3, 20)) == temporary  # the end date is included
    assert in_force(dt.date(2026, 3, 21)) == base  # the increase has ended
    assert in_force(dt.date(2026, 3, 31)) == base  # the 减容 is not in force yet
    assert in_force(dt.date(2026, 4, 1)) == reduced
    assert in_force(dt.date(2023, 6, 1)) == base  # before any contract: the first one
    with django_assert_num_queries(1):  # a covered day is one query
        in_force(dt.date(2026, 3, 15))


def test_contract_in_force_keeps_a_lapsed_contract_and_breaks_ties_by_creation(db: Any) -> None:
    # given two contracts starting and ending the same days (the second created later), an
    # earlier temporary increase, and a terminated contract after them
    account = AccountFactory()
    _contract(account, "400.0", dt.date(2020, 1, 1), dt.date(2025, 12, 31))
    later = _contract(account, "315.0", dt.date(2020, 1, 1), dt.date(2025, 12, 31))
    _contract(account, "630.0", dt.date(2025, 6, 1), dt.date(2025, 8, 31), kind=ContractKind.TEMPORARY)
    _contract(account, "250.0", dt.date(2026, 2, 1), None, status=ContractStatus.TERMINATED)

    def in_force(day: dt.date) -> Contract | None:
        return selectors.contract_in_force(account_id=account.pk, day=day)

    # then the later created wins the tie, and its terms carry on after it lapsed (合同到期未续签)
    assert in_force(dt.date(2025, 1, 1)) == later
    assert in_force(dt.date(2026, 6, 1)) == later
    assert in_force(dt.date(2019, 1, 1)) == later  # before any contract: the first one
    assert selectors.contract_in_force(account_id=AccountFactory().pk, day=dt.date(2026, 6, 1)) is None


MONTH = dt.date(2026, 3, 1)
STATUSES = [ContractStatus.ACTIVE] * 3 + [ContractStatus.TERMINATED, ContractStatus.DRAFT]
# A contract: days from the 1st of MONTH to its start and to its end (None: open-ended; an
# end before the start ends on the start day), its status. Often the same few days, so that
# two start or end together.
CONTRACT = st.tuples(
    st.one_of(st.sampled_from([-30, 0, 10, 31]), st.integers(min_value=-60, max_value=60)),
    st.one_of(st.none(), st.sampled_from([-1, 9, 20, 40]), st.integers(min_value=-60, max_value=100)),
    st.sampled_from(STATUSES),
)


def _billed_contracts(
    contracts: list[Contract], first_day: dt.date, last_day: dt.date
) -> dict[dt.date, int | None]:
    """The contract billing's ``_contract_parts`` bills on each of the account's days, from
    frames in the shape ``period_data`` builds (active contracts; each contract's id as its
    capacity, so each part names its contract)."""
    days = [first_day + dt.timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    if not contracts:
        return dict.fromkeys(days)
    account_id = contracts[0].account_id
    frame = pl.DataFrame(
        {
            "account_id": [account_id] * len(contracts),
            "capacity_va": [c.pk for c in contracts],
            "basic_charge_by": ["capacity"] * len(contracts),
            "contracted_demand_w": [None] * len(contracts),
            "start_date": [c.start_date for c in contracts],
            "end_date": [c.end_date for c in contracts],
            "contract_id": [c.pk for c in contracts],
        },
        schema={
            "account_id": pl.Int64,
            "capacity_va": pl.Int64,
            "basic_charge_by": pl.String,
            "contracted_demand_w": pl.Int64,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "contract_id": pl.Int64,
        },
    )
    accounts = pl.DataFrame(
        {"account_id": [account_id], "first_day": [first_day], "last_day": [last_day]},
        schema={"account_id": pl.Int64, "first_day": pl.Date, "last_day": pl.Date},
    )
    [row] = _contract_parts(frame, accounts, MONTH, dt.date(2026, 3, 31)).to_dicts()
    parts = row["basic_parts"] or [{"from": first_day, "capacity_va": row["capacity_va"]}]
    return {day: [p for p in parts if p["from"] <= day][-1]["capacity_va"] for day in days}


@pytest.mark.django_db
@given(
    specs=st.lists(CONTRACT, max_size=6),
    first=st.integers(min_value=0, max_value=30),
    length=st.integers(min_value=0, max_value=30),
)
# Two contracts lapse the same day, the later-starting created first: its terms carry on.
@example(specs=[(0, 9, ContractStatus.ACTIVE), (-30, 9, ContractStatus.ACTIVE)], first=0, length=30)
def test_contract_in_force_is_the_contract_billing_bills_on_every_day(
    specs: list[tuple[int, int | None, str]], first: int, length: int
) -> None:
    """Property: for random contract sets of one account (overlapping, temporary, lapsed,
    starting the same day, not active), on each of the account's days billed in a month the
    selector returns the contract billing's ``_contract_parts`` bills that day."""
    account = AccountFactory()
    contracts = [
        _contract(
            account,
            "100.0",
            MONTH + dt.timedelta(days=start),
            None if end is None else MONTH + dt.timedelta(days=max(start, end)),
            status=status,
        )
        for start, end, status in specs
    ]
    first_day = MONTH + dt.timedelta(days=first)
    last_day = min(first_day + dt.timedelta(days=length), dt.date(2026, 3, 31))

    billed = _billed_contracts(
        [c for c in contracts if c.status == ContractStatus.ACTIVE], first_day, last_day
    )

    for day, contract_id in billed.items():
        found = selectors.contract_in_force(account_id=account.pk, day=day)
        assert (found.pk if found else None, day) == (contract_id, day)
