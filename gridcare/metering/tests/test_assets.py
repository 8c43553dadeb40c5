"""Meter assets: registration, the lifecycle, install / remove / exchange (换表) and the
verification-due list. State changes go through the real services; failures leave every
table as it was.

The module-level builders (``make_account``, ``make_meter``, ``install``, ``counts``) are
shared with ``test_verification.py``; accounts are built through the customer services.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction

from gridcare.core.errors import Conflict, NotFound, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.core.tests.factories import valid_id_number, valid_mobile
from gridcare.customers import services as customer_services
from gridcare.customers.choices import AccountStatus, AreaType, CustomerClass, CustomerKind, VoltageLevel
from gridcare.customers.models import Account
from gridcare.metering.choices import MeterStatus, MeterType, ReadingQuality, ReadingSource
from gridcare.metering.models import Installation, Meter, MeterClassPolicy, Reading
from gridcare.metering.selectors.assets import (
    DueReason,
    add_months,
    meter_current_installation,
    meter_get,
    meters_due_for_verification,
    meters_search,
)
from gridcare.metering.services.assets import (
    METER_TRANSITIONS,
    meter_exchange,
    meter_install,
    meter_register,
    meter_remove,
    meter_scrap,
    meter_transition_allowed,
)

pytestmark = pytest.mark.django_db

BEIJING = ZoneInfo("Asia/Shanghai")
_serial = itertools.count(1)


# --- builders -----------------------------------------------------------------------------


def at(*args: int) -> dt.datetime:
    """An aware Beijing time: ``at(2025, 3, 1, 9)``."""
    return dt.datetime(*args, tzinfo=BEIJING)  # type: ignore[misc]


def make_account(*, customer: Any = None, **kwargs: Any) -> Account:
    """An active account on its own service point and transformer area, through the services."""
    n = next(_serial)
    sub = customer_services.substation_create(actor="test", code=f"JLS{n}", name=f"计量变{n}")
    feeder = customer_services.feeder_create(actor="test", code=f"JLF{n}", name=f"计量线{n}", substation=sub)
    transformer = customer_services.transformer_create(
        actor="test",
        code=f"JLT{n}",
        name=f"计量台区{n}",
        feeder=feeder,
        capacity_kva=400,
        area_type=AreaType.URBAN,
    )
    point = customer_services.service_point_create(
        actor="test", address=f"城关镇计量路{n}号", transformer=transformer
    )
    if customer is None:
        customer = customer_services.customer_create(
            actor="test",
            kind=CustomerKind.PERSON,
            name=f"计量客户{n}",
            id_number=valid_id_number(7000 + n),
            mobile=valid_mobile(7000 + n),
        )
    data: dict[str, Any] = {
        "customer_class": CustomerClass.URBAN_RESIDENTIAL,
        "voltage_level": VoltageLevel.V220,
        "opened_on": dt.date(2019, 1, 1),
    }
    data.update(kwargs)
    return customer_services.account_open(actor="test", customer=customer, service_point=point, **data)


def meter_data(**overrides: Any) -> dict[str, Any]:
    n = next(_serial)
    data: dict[str, Any] = {
        "actor": "test",
        "asset_no": f"ZC{n:08d}",
        "barcode": f"TM{n:010d}",
        "meter_type": MeterType.SINGLE_PHASE,
        "registers": ["total", "peak", "valley"],
        "accuracy_class": "2",
        "manufactured_on": dt.date(2019, 6, 1),
    }
    data.update(overrides)
    return data


def make_meter(**overrides: Any) -> Meter:
    return meter_register(**meter_data(**overrides))


def readings_for(meter: Meter, value: str = "0") -> dict[str, Decimal]:
    return {register: Decimal(value) for register in meter.registers}


def install(
    meter: Meter, account: Account, when: dt.datetime | None = None, value: str = "0"
) -> Installation:
    return meter_install(
        actor="test",
        meter=meter,
        account=account,
        installed_at=when or at(2024, 6, 1, 9),
        initial_readings=readings_for(meter, value),
    )


def counts() -> dict[str, int]:
    """Row counts of every table the asset services write."""
    return {
        "meters": Meter.objects.count(),
        "installations": Installation.objects.count(),
        "open_installations": Installation.objects.filter(removed_at__isnull=True).count(),
        "readings": Reading.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def statuses(*meters: Meter) -> list[str]:
    return [Meter.objects.get(pk=m.pk).status for m in meters]


# --- registration -----------------------------------------------------------------------


def test_register_puts_a_new_meter_in_stock_with_its_registers_in_order() -> None:
    # given / when a three-phase smart meter with TOU and reactive registers is registered
    meter = make_meter(
        asset_no=" ZC-3P-001 ",
        meter_type=MeterType.THREE_PHASE,
        registers=["reactive", "valley", "total", "peak", "flat", "sharp"],
        digits=8,
        multiplier="30",
        accuracy_class="0.5S",
        manufacturer="威胜",
        last_verified_on=dt.date(2019, 7, 1),
        remote_cutoff=True,
    )
    # then it is stored cleaned, in stock, with the registers in the standard order
    meter.refresh_from_db()
    assert meter.asset_no == "ZC-3P-001"
    assert meter.status == MeterStatus.IN_STOCK
    assert meter.registers == ["total", "sharp", "peak", "flat", "valley", "reactive"]
    assert (meter.digits, meter.multiplier, meter.accuracy_class) == (8, Decimal("30.00"), "0.5S")
    assert meter.last_verified_on == dt.date(2019, 7, 1)
    event = AuditEvent.objects.get(object_type="metering.meter", object_id=str(meter.pk))
    assert event.action == "meter.register"
    assert event.after["status"] == "in_stock"
    assert event.after["multiplier"] == "30.00"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"asset_no": "  "}, "asset_no"),
        ({"asset_no": "Z" * 33}, "asset_no"),
        ({"barcode": ""}, "barcode"),
        ({"meter_type": "two"}, "meter_type"),
        ({"accuracy_class": "3"}, "accuracy_class"),
        ({"registers": ["peak", "valley"]}, "registers"),  # no total
        ({"registers": ["total", "bogus"]}, "registers"),
        ({"registers": ["total", "total"]}, "registers"),
        ({"registers": "total"}, "registers"),
        ({"registers": ["total", "peak"], "is_smart": False}, "registers"),  # TOU needs smart
        ({"registers": ["total", "reactive"]}, "registers"),  # reactive on single-phase
        ({"remote_cutoff": True, "is_smart": False, "registers": ["total"]}, "remote_cutoff"),
        ({"digits": 3}, "digits"),
        ({"digits": 11}, "digits"),
        ({"multiplier": Decimal("0")}, "multiplier"),
        ({"multiplier": "abc"}, "multiplier"),
        ({"multiplier": Decimal("1.005")}, "multiplier"),
        ({"multiplier": 1.5}, "multiplier"),  # floats are refused: money and ratios are exact
        ({"manufactured_on": dt.date(2099, 1, 1)}, "manufactured_on"),
        ({"last_verified_on": dt.date(2019, 5, 1)}, "last_verified_on"),  # before manufacture
        ({"last_verified_on": dt.date(2099, 1, 1)}, "last_verified_on"),
    ],
)
def test_register_refuses_bad_input_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    # given the tables as they are
    before = counts()
    # when a meter with one bad input is registered
    with pytest.raises(ValidationFailed) as err:
        make_meter(**overrides)
    # then the error names the field and nothing was written
    assert err.value.field == field
    assert err.value.code == "validation_failed"
    assert counts() == before


@pytest.mark.parametrize("field", ["asset_no", "barcode"])
def test_register_refuses_a_second_meter_with_the_same_number(field: str) -> None:
    first = make_meter()
    before = counts()
    with pytest.raises(ValidationFailed) as err:
        make_meter(**{field: getattr(first, field)})
    assert err.value.field == field
    assert counts() == before


# --- the lifecycle ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "to", "allowed"),
    [
        ("in_stock", "installed", True),
        ("in_stock", "scrapped", True),
        ("in_stock", "removed", False),
        ("installed", "removed", True),
        ("installed", "scrapped", False),
        ("installed", "in_stock", False),
        ("removed", "installed", True),
        ("removed", "scrapped", True),
        ("removed", "in_stock", False),
        ("scrapped", "installed", False),
        ("scrapped", "in_stock", False),
        ("scrapped", "removed", False),
    ],
)
def test_lifecycle_table(current: str, to: str, allowed: bool) -> None:
    assert meter_transition_allowed(current, to) is allowed


def test_lifecycle_table_covers_every_status() -> None:
    assert set(METER_TRANSITIONS) == set(MeterStatus.values)


def test_scrap_a_meter_in_stock_and_a_removed_one() -> None:
    # given a meter in stock and one that was installed and removed
    spare = make_meter()
    used = make_meter()
    install(used, make_account())
    meter_remove(
        actor="test",
        meter=used,
        removed_at=at(2025, 1, 5, 10),
        final_readings=readings_for(used, "100"),
        reason="故障拆回",
    )
    # when both are scrapped
    meter_scrap(actor="test", meter=spare, reason="外观破损")
    scrapped = meter_scrap(actor="test", meter=used, reason="检定不合格")
    # then both are scrapped and the reason is on the audit row
    assert statuses(spare, used) == ["scrapped", "scrapped"]
    assert scrapped.status == MeterStatus.SCRAPPED
    event = AuditEvent.objects.filter(object_id=str(used.pk), action="meter.status").latest("id")
    assert (event.before, event.after, event.reason) == (
        {"status": "removed"},
        {"status": "scrapped"},
        "检定不合格",
    )


def test_scrap_refuses_an_installed_meter_and_a_scrapped_one() -> None:
    installed = make_meter()
    install(installed, make_account())
    gone = make_meter()
    meter_scrap(actor="test", meter=gone, reason="报废")
    before = counts()
    with pytest.raises(Conflict) as err:
        meter_scrap(actor="test", meter=installed, reason="报废")
    assert err.value.field == "meter"
    with pytest.raises(Conflict):
        meter_scrap(actor="test", meter=gone, reason="报废")
    assert counts() == before
    assert statuses(installed, gone) == ["installed", "scrapped"]


def test_scrap_needs_a_reason() -> None:
    meter = make_meter()
    with pytest.raises(ValidationFailed) as err:
        meter_scrap(actor="test", meter=meter, reason=" ")
    assert err.value.field == "reason"
    assert statuses(meter) == ["in_stock"]


# --- installation -----------------------------------------------------------------------


def test_install_binds_the_meter_to_the_account_and_starts_its_readings(make_user: Any) -> None:
    # given a meter in stock and an active account
    tech = make_user(roles=["metering_tech"])
    meter = make_meter()
    account = make_account()
    # when it is installed at 01:30 Beijing time (still the previous day in UTC)
    installation = meter_install(
        actor=tech,
        meter=meter,
        account=account,
        installed_at=at(2025, 3, 1, 1, 30),
        initial_readings={"total": Decimal("12.5"), "peak": "4.2", "valley": 8},
        reason="新装",
    )
    # then the installation is open at the account's service point
    installation.refresh_from_db()
    assert installation.account_id == account.pk
    assert installation.service_point_id == account.service_point_id
    assert installation.removed_at is None
    assert installation.initial_readings == {"total": "12.500", "peak": "4.200", "valley": "8.000"}
    assert installation.reason == "新装"
    assert statuses(meter) == ["installed"]
    # and the initial readings are that Beijing day's readings, source "exchange"
    rows = list(
        Reading.objects.filter(meter=meter).order_by("register").values_list("register", "day", "value")
    )
    assert rows == [
        ("peak", dt.date(2025, 3, 1), Decimal("4.200")),
        ("total", dt.date(2025, 3, 1), Decimal("12.500")),
        ("valley", dt.date(2025, 3, 1), Decimal("8.000")),
    ]
    assert set(Reading.objects.filter(meter=meter).values_list("source", "quality")) == {
        (ReadingSource.EXCHANGE, ReadingQuality.VALID)
    }
    # and the audit trail has the status change and the installation, by the technician
    actions = list(AuditEvent.objects.filter(actor=tech).order_by("id").values_list("action", flat=True))
    assert actions == ["meter.status", "installation.create"]


def test_install_keeps_a_reading_already_stored_for_that_day() -> None:
    meter = make_meter(registers=["total"])
    Reading.objects.create(
        meter=meter, register="total", day=dt.date(2025, 3, 1), value=Decimal("5"), source=ReadingSource.AMI
    )
    install(meter, make_account(), at(2025, 3, 1, 9), value="5.5")
    assert list(Reading.objects.filter(meter=meter).values_list("value", "source")) == [
        (Decimal("5.000"), ReadingSource.AMI)
    ]


def _suspended_account() -> Account:
    account = make_account()
    return customer_services.account_update(
        actor="test", account_id=account.pk, version=account.version, status=AccountStatus.SUSPENDED
    )


@pytest.mark.parametrize(
    ("case", "error", "field"),
    [
        ("meter_installed", Conflict, "meter"),
        ("meter_scrapped", Conflict, "meter"),
        ("account_suspended", Conflict, "account"),
        ("account_has_meter", Conflict, "account"),
        ("register_missing", ValidationFailed, "initial_readings"),
        ("register_unknown", ValidationFailed, "initial_readings"),
        ("negative", ValidationFailed, "initial_readings"),
        ("too_many_digits", ValidationFailed, "initial_readings"),
        ("not_a_number", ValidationFailed, "initial_readings"),
        ("four_places", ValidationFailed, "initial_readings"),
        ("naive_time", ValidationFailed, "installed_at"),
        ("future_time", ValidationFailed, "installed_at"),
        ("meter_busy_then", ValidationFailed, "installed_at"),
    ],
)
def test_install_refusals_change_nothing(case: str, error: type[Exception], field: str) -> None:
    # given a meter (6 digits; total, peak, valley) and an active account, arranged per case
    meter = make_meter()
    account = make_account()
    when = at(2025, 3, 1, 9)
    readings: dict[str, Any] = dict(readings_for(meter, "1"))
    if case == "meter_installed":
        install(meter, make_account())
    elif case == "meter_scrapped":
        meter_scrap(actor="test", meter=meter, reason="报废")
    elif case == "account_suspended":
        account = _suspended_account()
    elif case == "account_has_meter":
        install(make_meter(), account)
    elif case == "register_missing":
        del readings["peak"]
    elif case == "register_unknown":
        readings["reactive"] = Decimal("0")
    elif case == "negative":
        readings["valley"] = Decimal("-0.001")
    elif case == "too_many_digits":
        readings["total"] = Decimal("1000000")  # 10**6 on a 6-digit display
    elif case == "not_a_number":
        readings["total"] = "一百"
    elif case == "four_places":
        readings["total"] = Decimal("1.0005")
    elif case == "naive_time":
        when = dt.datetime(2025, 3, 1, 9)  # noqa: DTZ001 - the point of the test
    elif case == "future_time":
        when = at(2099, 1, 1, 9)
    elif case == "meter_busy_then":
        # the meter was installed elsewhere until 2025-03-10, then removed
        install(meter, make_account(), at(2025, 2, 1, 9))
        meter_remove(
            actor="test",
            meter=meter,
            removed_at=at(2025, 3, 10, 9),
            final_readings=readings_for(meter, "5"),
            reason="拆回",
        )
    before = counts()
    meter_status = statuses(meter)
    # when it is installed
    with pytest.raises(error) as err:
        meter_install(
            actor="test", meter=meter, account=account, installed_at=when, initial_readings=readings
        )
    # then the error names the field and nothing changed
    assert err.value.field == field  # type: ignore[attr-defined]
    assert counts() == before
    assert statuses(meter) == meter_status


def test_a_removed_meter_can_be_installed_again_elsewhere() -> None:
    meter = make_meter(registers=["total"])
    first, second = make_account(), make_account()
    install(meter, first, at(2024, 1, 1, 9))
    meter_remove(
        actor="test",
        meter=meter,
        removed_at=at(2024, 6, 1, 9),
        final_readings={"total": "300"},
        reason="销户拆表",
    )
    again = install(meter, second, at(2024, 6, 2, 9), value="300")
    assert again.account_id == second.pk
    assert statuses(meter) == ["installed"]
    assert list(meter.installations.order_by("installed_at").values_list("account_id", flat=True)) == [
        first.pk,
        second.pk,
    ]


# --- removal ------------------------------------------------------------------------------


def test_remove_closes_the_installation_with_the_final_readings() -> None:
    # given a meter installed with readings 100 / 40 / 60
    meter = make_meter()
    installation = install(meter, make_account(), at(2024, 6, 1, 9), value="100")
    # when it is removed
    closed = meter_remove(
        actor="test",
        meter=meter,
        removed_at=at(2025, 2, 3, 16),
        final_readings={"total": "1234.5", "peak": "500", "valley": "734.5"},
        reason="故障换表",
    )
    # then the installation is closed, the meter is back as removed, the final readings stored
    assert closed.pk == installation.pk
    installation.refresh_from_db()
    assert installation.removed_at == at(2025, 2, 3, 16)
    assert installation.final_readings == {"total": "1234.500", "peak": "500.000", "valley": "734.500"}
    assert statuses(meter) == ["removed"]
    assert dict(
        Reading.objects.filter(meter=meter, day=dt.date(2025, 2, 3)).values_list("register", "value")
    ) == {"total": Decimal("1234.500"), "peak": Decimal("500.000"), "valley": Decimal("734.500")}
    event = AuditEvent.objects.get(object_type="metering.installation", action="installation.close")
    assert event.reason == "故障换表"
    assert event.after["final_readings"]["total"] == "1234.500"


def test_remove_accepts_a_lower_final_reading_only_as_a_rollover() -> None:
    # given a 6-digit meter installed at 999 000
    meter = make_meter(registers=["total"])
    install(meter, make_account(), at(2024, 6, 1, 9), value="999000")
    before = counts()
    # when it is removed at 120 without saying it rolled over, it is refused
    with pytest.raises(ValidationFailed) as err:
        meter_remove(
            actor="test",
            meter=meter,
            removed_at=at(2025, 1, 1, 9),
            final_readings={"total": "120"},
            reason="拆",
        )
    assert err.value.field == "final_readings"
    assert counts() == before
    # and accepted when the register is named as rolled over
    meter_remove(
        actor="test",
        meter=meter,
        removed_at=at(2025, 1, 1, 9),
        final_readings={"total": "120"},
        reason="拆",
        rolled_over=["total"],
    )
    assert statuses(meter) == ["removed"]


@pytest.mark.parametrize(
    ("case", "error", "field"),
    [
        ("not_installed", Conflict, "meter"),
        ("before_install", ValidationFailed, "removed_at"),
        ("no_reason", ValidationFailed, "reason"),
        ("missing_register", ValidationFailed, "final_readings"),
    ],
)
def test_remove_refusals_change_nothing(case: str, error: type[Exception], field: str) -> None:
    meter = make_meter()
    if case != "not_installed":
        install(meter, make_account(), at(2024, 6, 1, 9))
    final: dict[str, Any] = dict(readings_for(meter, "10"))
    when, reason = at(2025, 1, 1, 9), "拆表"
    if case == "before_install":
        when = at(2024, 5, 31, 9)
    elif case == "no_reason":
        reason = ""
    elif case == "missing_register":
        del final["valley"]
    before = counts()
    meter_status = statuses(meter)
    with pytest.raises(error) as err:
        meter_remove(actor="test", meter=meter, removed_at=when, final_readings=final, reason=reason)
    assert err.value.field == field  # type: ignore[attr-defined]
    assert counts() == before
    assert statuses(meter) == meter_status


# --- exchange (换表) ---------------------------------------------------------------------


def test_exchange_removes_the_old_meter_and_installs_the_new_one_at_the_same_instant() -> None:
    # given an account with an old meter read 0 at installation, and a new meter in stock
    account = make_account()
    old = make_meter(registers=["total"])
    install(old, account, at(2023, 5, 1, 9))
    new = make_meter(registers=["total", "peak", "valley"])
    # when the meters are exchanged
    instant = at(2025, 4, 8, 14, 20)
    installation = meter_exchange(
        actor="test",
        account=account,
        new_meter=new,
        at=instant,
        old_final_readings={"total": "8765.43"},
        new_initial_readings={"total": "0", "peak": "0", "valley": "0"},
        reason="轮换",
    )
    # then the old installation is closed and the new one open, at the same instant
    old_installation = Installation.objects.get(meter=old)
    assert old_installation.removed_at == instant
    assert old_installation.final_readings == {"total": "8765.430"}
    assert installation.meter_id == new.pk
    assert installation.installed_at == instant
    assert installation.removed_at is None
    assert installation.reason == "轮换"
    assert statuses(old, new) == ["removed", "installed"]
    # and both sets of readings are stored for that day
    day = dt.date(2025, 4, 8)
    assert list(Reading.objects.filter(meter=old, day=day).values_list("register", "value")) == [
        ("total", Decimal("8765.430"))
    ]
    assert dict(Reading.objects.filter(meter=new, day=day).values_list("register", "value")) == {
        "total": Decimal("0.000"),
        "peak": Decimal("0.000"),
        "valley": Decimal("0.000"),
    }
    # and the exchange itself is audited with both meters
    event = AuditEvent.objects.get(action="meter.exchange")
    assert event.object_id == str(installation.pk)
    assert event.before == {"meter_id": old.pk, "final_readings": {"total": "8765.430"}}
    assert event.after == {
        "meter_id": new.pk,
        "initial_readings": {"total": "0.000", "peak": "0.000", "valley": "0.000"},
    }
    assert meter_current_installation(new) == installation
    assert meter_current_installation(old) is None


@pytest.mark.parametrize(
    ("case", "error", "field"),
    [
        ("new_meter_installed", Conflict, "new_meter"),
        ("new_meter_scrapped", Conflict, "new_meter"),
        ("same_meter", ValidationFailed, "new_meter"),
        ("bad_new_readings", ValidationFailed, "new_initial_readings"),
        ("old_final_below_initial", ValidationFailed, "old_final_readings"),
        ("before_old_install", ValidationFailed, "at"),
        ("no_meter", Conflict, "account"),
        ("no_reason", ValidationFailed, "reason"),
    ],
)
def test_exchange_refusals_change_nothing(case: str, error: type[Exception], field: str) -> None:
    # given an account with an old meter (installed at 50) and a new meter in stock
    account = make_account()
    old = make_meter(registers=["total"])
    install(old, account, at(2023, 5, 1, 9), value="50")
    new = make_meter(registers=["total"])
    kwargs: dict[str, Any] = {
        "actor": "test",
        "account": account,
        "new_meter": new,
        "at": at(2025, 4, 8, 14),
        "old_final_readings": {"total": "900"},
        "new_initial_readings": {"total": "0"},
        "reason": "轮换",
    }
    if case == "new_meter_installed":
        install(new, make_account())
    elif case == "new_meter_scrapped":
        meter_scrap(actor="test", meter=new, reason="报废")
    elif case == "same_meter":
        kwargs["new_meter"] = old
    elif case == "bad_new_readings":
        kwargs["new_initial_readings"] = {"total": "-1"}  # fails after the old meter came off
    elif case == "old_final_below_initial":
        kwargs["old_final_readings"] = {"total": "49"}
    elif case == "before_old_install":
        kwargs["at"] = at(2023, 4, 30, 9)
    elif case == "no_meter":
        kwargs["account"] = make_account()
    elif case == "no_reason":
        kwargs["reason"] = " "
    before = counts()
    meter_statuses = statuses(old, new)
    # when the exchange is attempted
    with pytest.raises(error) as err:
        meter_exchange(**kwargs)
    # then the error names this call's input and nothing changed: the old meter is still on
    assert err.value.field == field  # type: ignore[attr-defined]
    assert counts() == before
    assert statuses(old, new) == meter_statuses
    assert Installation.objects.get(meter=old).removed_at is None


# --- one meter per service point (计量点) ------------------------------------------------


def account_at_same_point(account: Account) -> Account:
    """A second active account (another customer, e.g. after 过户) at ``account``'s service point."""
    n = next(_serial)
    customer = customer_services.customer_create(
        actor="test",
        kind=CustomerKind.PERSON,
        name=f"新户主{n}",
        id_number=valid_id_number(8000 + n),
        mobile=valid_mobile(8000 + n),
    )
    return customer_services.account_open(
        actor="test",
        customer=customer,
        service_point=account.service_point,
        customer_class=CustomerClass.URBAN_RESIDENTIAL,
        voltage_level=VoltageLevel.V220,
        opened_on=dt.date(2019, 1, 1),
    )


def test_install_refuses_a_second_meter_at_a_service_point_that_has_one() -> None:
    # given a meter installed for one account, and a second account at the same service point
    first = make_account()
    on_site = make_meter()
    install(on_site, first, at(2024, 1, 1, 9))
    second = account_at_same_point(first)
    meter = make_meter()
    before = counts()
    # when another meter is installed for the second account
    with pytest.raises(Conflict) as err:
        install(meter, second, at(2024, 2, 1, 9))
    # then it is refused, naming the meter still there, and nothing changed
    assert err.value.field == "account"
    assert on_site.asset_no in str(err.value)
    assert counts() == before
    assert statuses(meter) == ["in_stock"]


def test_install_refuses_a_start_inside_another_meters_time_at_the_service_point() -> None:
    # given a meter at a service point from January to June, then removed (销户拆表)
    first = make_account()
    old = make_meter()
    install(old, first, at(2024, 1, 1, 9))
    meter_remove(
        actor="test",
        meter=old,
        removed_at=at(2024, 6, 1, 9),
        final_readings=readings_for(old, "100"),
        reason="销户拆表",
    )
    second = account_at_same_point(first)
    meter = make_meter()
    before = counts()
    # when a new meter there is back-dated into March
    with pytest.raises(ValidationFailed) as err:
        install(meter, second, at(2024, 3, 1, 9))
    # then it is refused on the installation time and nothing changed
    assert err.value.field == "installed_at"
    assert old.asset_no in str(err.value)
    assert "2024-06-01 09:00" in str(err.value)
    assert counts() == before
    # and from the removal on it is accepted: the two spans touch, they do not overlap
    installation = install(meter, second, at(2024, 6, 1, 9))
    assert installation.service_point_id == first.service_point_id
    spans = Installation.objects.filter(service_point=first.service_point).order_by("installed_at")
    assert [(i.installed_at, i.removed_at) for i in spans] == [
        (at(2024, 1, 1, 9), at(2024, 6, 1, 9)),
        (at(2024, 6, 1, 9), None),
    ]


def test_the_database_keeps_one_open_installation_per_service_point() -> None:
    # given a meter installed at a service point
    first = make_account()
    install(make_meter(), first, at(2024, 1, 1, 9))
    second, meter = account_at_same_point(first), make_meter()
    # when a second open installation is written there past the service
    with pytest.raises(IntegrityError), transaction.atomic():
        Installation.objects.create(
            meter=meter,
            service_point=first.service_point,
            account=second,
            installed_at=at(2024, 2, 1, 9),
        )
    # then the partial unique index refuses it
    assert Installation.objects.filter(service_point=first.service_point).count() == 1


# --- selectors: search and detail -------------------------------------------------------


def test_search_by_asset_number_barcode_and_account_number(make_user: Any) -> None:
    # given two installed meters and one in stock
    tech = make_user(roles=["metering_tech"])
    a = make_meter(asset_no="ZC-A-0001", barcode="BC-111")
    b = make_meter(asset_no="ZC-B-0002", barcode="BC-222")
    spare = make_meter(asset_no="ZC-C-0003", barcode="BC-333")
    account_a = make_account()
    install(a, account_a, at(2024, 1, 1, 9))
    meter_remove(
        actor="test", meter=a, removed_at=at(2024, 2, 1, 9), final_readings=readings_for(a, "1"), reason="拆"
    )
    install(a, account_a, at(2024, 3, 1, 9), value="1")  # two installations, one open
    account_b = make_account()
    install(b, account_b)

    def found(**kwargs: Any) -> list[str]:
        return [m.asset_no for m in meters_search(user=tech, **kwargs)]

    # then each key finds its meter, once, with the account it serves
    assert found() == ["ZC-A-0001", "ZC-B-0002", "ZC-C-0003"]
    assert found(q="B-00") == ["ZC-B-0002"]
    assert found(q="bc-333") == ["ZC-C-0003"]
    assert found(q=account_a.number) == ["ZC-A-0001"]
    assert found(status="in_stock") == ["ZC-C-0003"]
    assert found(q="ZC", status="installed") == ["ZC-A-0001", "ZC-B-0002"]
    rows = {m.asset_no: m.current_account_number for m in meters_search(user=tech)}
    assert rows == {"ZC-A-0001": account_a.number, "ZC-B-0002": account_b.number, "ZC-C-0003": None}
    assert spare.pk in {m.pk for m in meters_search(user=tech, q="C-0003")}
    with pytest.raises(ValidationFailed) as err:
        meters_search(user=tech, status="lost")
    assert err.value.field == "status"


def test_search_is_empty_for_users_without_the_metering_view(make_user: Any, customer_client: Any) -> None:
    make_meter()
    assert list(meters_search(user=make_user(roles=[]))) == []
    assert list(meters_search(user=customer_client.user)) == []
    assert meters_search(user=make_user(roles=["repair_crew"])).count() == 1


def test_meter_get_loads_the_installation_history_in_fixed_queries(
    make_user: Any, django_assert_num_queries: Any
) -> None:
    # given a meter installed twice (once for each of two accounts)
    tech = make_user(roles=["metering_tech"])
    meter = make_meter(registers=["total"])
    first, second = make_account(), make_account()
    install(meter, first, at(2024, 1, 1, 9))
    meter_remove(
        actor="test", meter=meter, removed_at=at(2024, 2, 1, 9), final_readings={"total": "5"}, reason="拆"
    )
    install(meter, second, at(2024, 3, 1, 9), value="5")
    meters_search(user=tech).count()  # warm the permission cache
    # when the detail is loaded: 1 query for the meter, 1 for the history
    with django_assert_num_queries(2):
        got = meter_get(user=tech, meter_id=meter.pk)
        history = [(i.account.number, i.service_point.transformer.code) for i in got.installations.all()]
        current = meter_current_installation(got)
    # then the history is newest first and the current installation is the open one
    assert [number for number, _ in history] == [second.number, first.number]
    assert current is not None
    assert current.account_id == second.pk


def test_meter_get_is_not_found_for_a_user_who_may_not_see_it(make_user: Any) -> None:
    meter = make_meter()
    with pytest.raises(NotFound):
        meter_get(user=make_user(roles=[]), meter_id=meter.pk)
    with pytest.raises(NotFound):
        meter_get(user=make_user(roles=["metering_tech"]), meter_id=meter.pk + 1000)


# --- selectors: due for verification or replacement ---------------------------------------


def test_add_months_clamps_to_the_end_of_the_month() -> None:
    assert add_months(dt.date(2025, 8, 31), 6) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2024, 2, 29), 12) == dt.date(2025, 2, 28)
    assert add_months(dt.date(2025, 1, 15), -13) == dt.date(2023, 12, 15)
    assert add_months(dt.date(2020, 3, 1), 96) == dt.date(2028, 3, 1)


def test_due_list_under_the_policy_in_force_and_a_newer_one(make_user: Any) -> None:
    # given the seeded class policies (class 1 and 2: verify every 96 months, replace after
    # 8 years; 0.5S: every 12 months) and installed meters
    tech = make_user(roles=["metering_tech"])
    late = make_meter(
        accuracy_class="1", manufactured_on=dt.date(2020, 3, 1), last_verified_on=dt.date(2020, 4, 1)
    )
    old = make_meter(manufactured_on=dt.date(2018, 2, 15), last_verified_on=dt.date(2024, 1, 1))
    yearly = make_meter(
        accuracy_class="0.5S", meter_type=MeterType.THREE_PHASE, manufactured_on=dt.date(2025, 5, 31)
    )
    fresh = make_meter(manufactured_on=dt.date(2024, 1, 1))
    spare = make_meter(manufactured_on=dt.date(2010, 1, 1))  # would be due, but in stock
    for meter in (late, old, yearly, fresh):
        install(meter, make_account(), at(2025, 6, 2, 9))

    def due(on: dt.date) -> list[tuple[str, dt.date, str]]:
        return [(r.meter.asset_no, r.due_on, r.reason) for r in meters_due_for_verification(user=tech, on=on)]

    # when the list is taken on 2026-05-30: nothing is due yet
    assert due(dt.date(2026, 5, 30)) == [(old.asset_no, dt.date(2026, 2, 15), DueReason.REPLACEMENT)]
    # on 2026-05-31 the 0.5S meter's first yearly verification falls due (boundary day included)
    assert due(dt.date(2026, 5, 31)) == [
        (old.asset_no, dt.date(2026, 2, 15), DueReason.REPLACEMENT),
        (yearly.asset_no, dt.date(2026, 5, 31), DueReason.PERIODIC),
    ]
    # given a newer class-1 policy from 2026-06-01: verify every 60 months
    MeterClassPolicy.objects.create(
        accuracy_class="1",
        effective_from=dt.date(2026, 6, 1),
        tolerance_pct=Decimal("1.00"),
        verification_interval_months=60,
        replacement_years=10,
        source="测试: 新规",
    )
    # then the class-1 meter (verified 2020-04-01) is due from 2025-04-01 once it applies
    rows = meters_due_for_verification(user=tech, on=dt.date(2026, 6, 1))
    assert [(r.meter.asset_no, r.due_on, r.reason) for r in rows] == [
        (late.asset_no, dt.date(2025, 4, 1), DueReason.PERIODIC),
        (old.asset_no, dt.date(2026, 2, 15), DueReason.REPLACEMENT),
        (yearly.asset_no, dt.date(2026, 5, 31), DueReason.PERIODIC),
    ]
    assert rows[0].account_number == Installation.objects.get(meter=late).account.number
    # but not the day before it is in force
    assert late.asset_no not in [r[0] for r in due(dt.date(2026, 5, 31))]
    assert fresh.asset_no not in [r[0] for r in due(dt.date(2026, 6, 1))]
    assert spare.asset_no not in [r[0] for r in due(dt.date(2026, 6, 1))]


def test_due_list_uses_the_exact_month_end_date(make_user: Any) -> None:
    # given a class-0.2S policy with a 6-month interval and a meter verified on 31 August
    tech = make_user(roles=["metering_tech"])
    MeterClassPolicy.objects.create(
        accuracy_class="0.2S",
        effective_from=dt.date(2025, 1, 1),
        tolerance_pct=Decimal("0.20"),
        verification_interval_months=6,
        replacement_years=10,
        source="测试",
    )
    meter = make_meter(
        accuracy_class="0.2S",
        meter_type=MeterType.THREE_PHASE,
        manufactured_on=dt.date(2025, 8, 1),
        last_verified_on=dt.date(2025, 8, 31),
    )
    install(meter, make_account(), at(2025, 9, 1, 9))
    # then it is due on 28 February (31 Aug + 6 months), not before
    assert meters_due_for_verification(user=tech, on=dt.date(2026, 2, 27)) == []
    [row] = meters_due_for_verification(user=tech, on=dt.date(2026, 2, 28))
    assert (row.meter.pk, row.due_on, row.reason) == (meter.pk, dt.date(2026, 2, 28), DueReason.PERIODIC)


def test_due_list_runs_in_fixed_queries_and_is_scoped(make_user: Any, django_assert_num_queries: Any) -> None:
    tech = make_user(roles=["metering_tech"])
    for _ in range(3):
        install(make_meter(manufactured_on=dt.date(2010, 1, 1)), make_account())
    meters_due_for_verification(user=tech, on=dt.date(2026, 1, 1))  # warm the permission cache
    # 1 query for the policies, 1 for the meters, 1 for their open installations
    with django_assert_num_queries(3):
        rows = meters_due_for_verification(user=tech, on=dt.date(2026, 1, 1))
    assert len(rows) == 3
    assert {r.reason for r in rows} == {DueReason.REPLACEMENT}
    assert meters_due_for_verification(user=make_user(roles=[]), on=dt.date(2026, 1, 1)) == []


def test_a_meter_is_never_installed_before_it_was_made() -> None:
    acct = make_account()
    meter = make_meter(manufactured_on=dt.date(2024, 6, 1))
    with pytest.raises(ValidationFailed) as exc:
        meter_install(
            actor="t",
            meter=meter,
            account=acct,
            installed_at=at(2024, 5, 31, 9),
            initial_readings=readings_for(meter),
        )
    assert exc.value.field == "installed_at"
    installed = meter_install(
        actor="t",
        meter=meter,
        account=acct,
        installed_at=at(2024, 6, 1, 9),
        initial_readings=readings_for(meter),
    )
    assert installed.meter_id == meter.pk
