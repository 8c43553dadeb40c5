"""The demo county generator (pure) and ``gridcare seed`` / ``gridcare bench seed`` (database)."""

from __future__ import annotations

import json
from collections import Counter
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from gridcare.core.engine.ids import id_number_problem, is_valid_mobile, uscc_problem
from gridcare.core.models import AuditEvent, NumberSequence
from gridcare.core.roles import CUSTOMER, STAFF_ROLES
from gridcare.customers import demo
from gridcare.customers.choices import RESIDENTIAL_CLASSES
from gridcare.customers.models import (
    Account,
    Contract,
    Customer,
    Feeder,
    ServicePoint,
    Substation,
    Transformer,
)
from gridcare.customers.services import account_number_format, account_open


def _seed(customers: int = 300, seed: int = 1, *extra: str) -> str:
    out = StringIO()
    # The metering demo (meters, readings, curves) has its own tests in metering/tests/test_demo.py,
    # the work-order demo in workorders/tests/test_demo.py.
    args = (
        "--customers",
        str(customers),
        "--seed",
        str(seed),
        "--readings-months",
        "0",
        "--workorder-days",
        "0",
        *extra,
    )
    call_command("seed", *args, stdout=out)
    return out.getvalue()


def _archive() -> list[tuple[str, str | None, str | None, str, list[str]]]:
    """What must be the same for the same seed: names, identity numbers, mobiles, 户号."""
    return [
        (c.name, c.id_number, c.credit_code, c.mobile, sorted(a.number for a in c.accounts.all()))
        for c in Customer.objects.order_by("id").prefetch_related("accounts")
    ]


def _wipe() -> None:
    """Empty the archive and the number sequences so the seed can run again."""
    Contract.objects.all().delete()
    Account.objects.all().delete()
    Customer.objects.all().delete()
    ServicePoint.objects.all().delete()
    Transformer.objects.all().delete()
    Feeder.objects.all().delete()
    Substation.objects.all().delete()
    NumberSequence.objects.all().delete()


# --- pure generator (no database) ---------------------------------------------------------


def test_generator_is_deterministic_valid_and_realistic() -> None:
    county = demo.generate_county(2000, 5)
    assert county == demo.generate_county(2000, 5)
    other = demo.generate_county(2000, 6)
    assert [c.name for c in county.customers] != [c.name for c in other.customers]

    counts = county.counts()
    assert counts["customers"] == 2000
    assert counts["substations"] >= 3
    assert counts["feeders"] >= 10
    public = [t for t in county.transformers if not t.is_dedicated]
    dedicated = [t for t in county.transformers if t.is_dedicated]
    large_customers = {a.customer for a in county.accounts if a.customer_class == demo.LARGE_IND}
    assert dedicated  # the seed-5 county has 大工业 customers
    assert 60 <= 2000 / len(public) <= 100
    assert all(60 <= t.customers <= 100 for t in public)
    assert sum(t.customers for t in public) + len(large_customers) == 2000
    assert {t.capacity_kva for t in public} <= set(demo.TRANSFORMER_CAPACITIES)
    assert {t.capacity_kva for t in dedicated} <= set(demo.LARGE_CAPACITIES)
    assert all(t.customers == 1 for t in dedicated)
    assert all(t.code.startswith("TQ") for t in public)
    assert all(t.code.startswith("ZB") and t.name.endswith("专变") for t in dedicated)
    assert len({t.code for t in county.transformers}) == len(county.transformers)
    assert len({t.name for t in dedicated}) == len(dedicated)

    persons = [c for c in county.customers if c.kind == "person"]
    orgs = [c for c in county.customers if c.kind == "organisation"]
    assert all(id_number_problem(c.id_number or "") is None for c in persons)
    assert all(1940 <= int((c.id_number or "")[6:10]) <= 2004 for c in persons)
    assert all(c.credit_code is None for c in persons)
    assert all(uscc_problem(c.credit_code or "") is None for c in orgs)
    assert all(c.contact_person for c in orgs)
    assert len({c.id_number for c in persons}) == len(persons)
    assert len({c.credit_code for c in orgs}) == len(orgs)
    mobiles = [c.mobile for c in county.customers]
    assert all(is_valid_mobile(m) for m in mobiles)
    assert len(set(mobiles)) == len(mobiles)
    assert all(c.id_tail == (c.id_number or c.credit_code or "")[-6:] for c in county.customers)

    classes = Counter(a.customer_class for a in county.accounts)
    residential = sum(classes[c] for c in demo.RESIDENTIAL)
    assert 0.85 <= residential / len(county.accounts) <= 0.95
    assert classes[demo.GENERAL_IC] > 0
    assert sorted(a.number_rank for a in county.accounts) == list(range(len(county.accounts)))
    for account in county.accounts:
        assert account.tariff_code == demo.TARIFF_BY_CLASS[account.customer_class]
        assert demo.FIRST_OPENED <= account.opened_on <= demo.LAST_OPENED
        if account.status == "closed":
            assert account.closed_on is not None
            assert account.closed_on >= account.opened_on
        else:
            assert account.closed_on is None
        if account.status == "suspended":  # the last day of supply, as billing reads it
            assert account.suspended_on is not None
            assert account.opened_on <= account.suspended_on <= demo.LAST_OPENED
        else:
            assert account.suspended_on is None
    assert any(a.status == "suspended" for a in county.accounts)
    assert len(county.contracts) == len(county.accounts)
    for contract in county.contracts:
        account = county.accounts[contract.account]
        if account.customer_class in demo.RESIDENTIAL:
            assert contract.kind == "residential"
            assert 4 <= contract.capacity_kva <= 12
        elif account.customer_class == demo.LARGE_IND:
            assert contract.kind == "hv"
            assert 315 <= contract.capacity_kva <= 5000
        else:
            assert contract.kind == "lv"
    # Portal demo customers are the first three residential persons.
    assert len(county.portal_customers) == 3
    assert all(county.customers[i].kind == "person" for i in county.portal_customers)


def test_area_mix_and_feeders_of_one_area_type() -> None:
    county = demo.generate_county(40_000, 1)
    public = [t for t in county.transformers if not t.is_dedicated]
    areas = Counter(t.area_type for t in public)
    total = len(public)
    assert areas["urban"] / total == pytest.approx(0.35, abs=0.02)
    assert areas["rural"] / total == pytest.approx(0.60, abs=0.02)
    assert areas["remote"] / total == pytest.approx(0.05, abs=0.02)
    per_feeder: dict[int, set[str]] = {}
    for t in county.transformers:
        per_feeder.setdefault(t.feeder, set()).add(t.area_type)
    mixed = [f for f, kinds in per_feeder.items() if len(kinds) > 1]
    assert len(mixed) <= 2  # only the feeders at the urban/rural and rural/remote borders
    important = sum(1 for a in county.accounts if a.importance)
    assert 0.003 <= important / len(county.accounts) <= 0.015
    prepaid = sum(1 for a in county.accounts if a.is_prepaid)
    assert 0.10 <= prepaid / len(county.accounts) <= 0.20


def test_large_industrial_accounts_are_on_their_own_dedicated_transformers() -> None:
    county = demo.generate_county(40_000, 1)
    capacity = {c.account: c.capacity_kva for c in county.contracts}
    seen: set[int] = set()
    numbered = 0
    for i, account in enumerate(county.accounts):
        point = county.service_points[account.service_point]
        transformer = county.transformers[point.transformer]
        if account.customer_class != demo.LARGE_IND:
            assert not transformer.is_dedicated
            continue
        assert transformer.is_dedicated
        assert transformer.capacity_kva == capacity[i]
        assert transformer.location == point.address
        assert county.customers[account.customer].name in transformer.name
        numbered += "号专变" in transformer.name
        assert point.transformer not in seen  # one 专变 per account
        seen.add(point.transformer)
    assert seen == {t for t, row in enumerate(county.transformers) if row.is_dedicated}
    assert numbered > 0  # customers with two 大工业 accounts: 1号专变 / 2号专变
    # Each 专变 hangs on a feeder of its own area type (that of the public 台区 beside it).
    feeder_areas: dict[int, set[str]] = {}
    for t in county.transformers:
        if not t.is_dedicated:
            feeder_areas.setdefault(t.feeder, set()).add(t.area_type)
    assert all(t.area_type in feeder_areas[t.feeder] for t in county.transformers if t.is_dedicated)


def test_credit_code_is_unique_per_serial_and_valid() -> None:
    codes = {demo.credit_code("91", n, new_style=n % 2 == 0) for n in range(1, 5001)}
    assert len(codes) == 5000
    assert all(uscc_problem(code) is None for code in codes)


# --- the seed command ---------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_is_deterministic_per_seed() -> None:
    _seed(300, 1)
    first = _archive()
    assert len(first) == 300
    _wipe()
    _seed(300, 1, "--if-empty")
    assert _archive() == first
    _wipe()
    _seed(300, 2)
    assert _archive() != first


@pytest.mark.django_db
def test_seeded_archive_is_valid() -> None:
    output = _seed(300, 4)
    assert "customer1" in output
    assert "hotline_agent" in output
    for customer in Customer.objects.all():
        if customer.kind == "person":
            assert id_number_problem(customer.id_number or "") is None
            assert customer.id_tail == (customer.id_number or "")[-6:]
        else:
            assert uscc_problem(customer.credit_code or "") is None
            assert customer.id_tail == (customer.credit_code or "")[-6:]
    accounts = Account.objects.count()
    residential = Account.objects.filter(customer_class__in=RESIDENTIAL_CLASSES).count()
    assert 0.85 <= residential / accounts <= 0.95
    assert Contract.objects.count() == accounts
    per_transformer = (
        Transformer.objects.filter(is_dedicated=False)
        .annotate(n=Count("service_points__accounts__customer", distinct=True))
        .values_list("n", flat=True)
    )
    assert 60 <= sum(per_transformer) / len(per_transformer) <= 100
    for account in Account.objects.select_related("service_point__transformer").prefetch_related("contracts"):
        transformer = account.service_point.transformer
        assert transformer.is_dedicated == (account.customer_class == "large_ind")
        if transformer.is_dedicated:
            assert transformer.capacity_kva == account.contracts.get().capacity_kva
    assert Substation.objects.count() >= 3
    assert Feeder.objects.count() >= 10
    events = AuditEvent.objects.filter(action="seed.run")
    assert events.count() == 1
    assert events.get().after["customers"] == 300
    assert AuditEvent.objects.count() == 1  # one summary event, not one per row


@pytest.mark.django_db
def test_demo_users_exist_in_their_groups_and_can_log_in(client) -> None:  # type: ignore[no-untyped-def]
    _seed(300, 1)
    User = get_user_model()
    for role in STAFF_ROLES:
        user = User.objects.get(username=role)
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert user.last_name
        assert user.first_name
        assert client.login(username=role, password=demo.DEMO_PASSWORD)
        client.logout()
    admin = User.objects.get(username=demo.ADMIN_USERNAME)
    assert admin.is_superuser
    assert client.login(username=demo.ADMIN_USERNAME, password=demo.ADMIN_PASSWORD)
    client.logout()
    for username in demo.PORTAL_USERNAMES:
        user = User.objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [CUSTOMER]
        customer = Customer.objects.get(user=user)
        assert customer.kind == "person"
        assert customer.accounts.get().customer_class in RESIDENTIAL_CLASSES
        assert client.login(username=username, password=demo.DEMO_PASSWORD)
        client.logout()


@pytest.mark.django_db
def test_if_empty_does_nothing_the_second_time_and_plain_seed_refuses() -> None:
    _seed(300, 1, "--if-empty")
    before = (Customer.objects.count(), Account.objects.count(), AuditEvent.objects.count())
    output = _seed(300, 1, "--if-empty")
    assert "already seeded" in output
    assert (Customer.objects.count(), Account.objects.count(), AuditEvent.objects.count()) == before
    with pytest.raises(CommandError, match="already has customers"):
        _seed(300, 1)


@pytest.mark.django_db
def test_account_open_continues_after_the_seeded_numbers() -> None:
    _seed(300, 1)
    seeded = Account.objects.count()
    assert Account.objects.order_by("-number").first().number == account_number_format(seeded)
    customer = Customer.objects.filter(kind="person").first()
    point = ServicePoint.objects.first()
    account = account_open(
        actor="test", customer=customer, service_point=point, customer_class="urban_res", voltage_level="220v"
    )
    assert account.number == account_number_format(seeded + 1)


@pytest.mark.django_db
def test_bench_seed_prints_one_json_line_and_refuses_a_non_empty_database() -> None:
    out = StringIO()
    call_command("bench", "seed", "--customers", "200", "--seed", "3", stdout=out)
    last = out.getvalue().strip().splitlines()[-1]
    figures = json.loads(last)
    assert figures["bench"] == "seed"
    assert figures["customers"] == 200
    assert figures["accounts"] == Account.objects.count()
    assert figures["seconds"] > 0
    assert figures["database"] in {"sqlite", "postgresql"}
    with pytest.raises(CommandError, match="EMPTY"):
        call_command("bench", "seed", "--customers", "200", stdout=StringIO())
