"""The tariff catalogue: the params validator, catalogue_load() from the database, adding a
version and an agency price month (services and the console forms, with permissions)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from gridcare.billing import seed_data
from gridcare.billing.choices import BillStatus
from gridcare.billing.engine.catalogue import catalogue_from_seed, compile_params, validate_params
from gridcare.billing.models import AgencyPurchasePrice, TariffVersion
from gridcare.billing.services.catalogue import agency_price_add, catalogue_load, tariff_version_add
from gridcare.billing.tests.factories import BillFactory
from gridcare.core.errors import Conflict, ValidationFailed
from gridcare.core.models import AuditEvent


def _params(code: str) -> dict[str, Any]:
    return copy.deepcopy(next(t["params"] for t in seed_data.TARIFFS if t["code"] == code))


# --- the params validator (pure) ----------------------------------------------------------------


@pytest.mark.parametrize("spec", seed_data.TARIFFS, ids=lambda s: s["code"])
def test_every_seeded_version_is_valid(spec: dict[str, Any]) -> None:
    validate_params(spec["kind"], spec["params"])


@pytest.mark.parametrize(
    ("kind", "code", "change", "message"),
    [
        ("res_tiered", "HEBS-RES-LV", {"prices": ["0.52", "0.57"]}, "params.prices: needs 3 prices"),
        ("res_tiered", "HEBS-RES-LV", {"prices": [0.52, "0.57", "0.82"]}, "params.prices[0]"),
        ("res_tiered", "HEBS-RES-LV", {"prices": ["0.52", "x", "0.82"]}, "params.prices[1]"),
        ("res_tiered", "HEBS-RES-LV", {"prices": ["0.5200001", "0.57", "0.82"]}, "more than 6 decimal"),
        ("res_tiered", "HEBS-RES-LV", {"tier_basis": "weekly"}, "params.tier_basis"),
        ("res_tiered", "HEBS-RES-LV", {"tier_upper_kwh": ["3360", "2160"]}, "strictly ascending"),
        ("res_tiered", "HEBS-RES-LV", {"colour": "red"}, "params.colour: is not a parameter"),
        ("res_tou", "HEBS-RES-LV-TOU", {"valley_prices": None}, "params.valley_prices: is required"),
        ("gic_tou", "HEBS-GIC-LV", {"ratios": {"peak": "1.7", "flat": "1"}}, "params.ratios.valley"),
        (
            "gic_tou",
            "HEBS-GIC-LV",
            {"ratios": {"peak": "-1", "flat": "1", "valley": "0.3"}},
            "params.ratios.peak",
        ),
        ("gic_tou", "HEBS-GIC-LV", {"pf_standard": "0.95"}, "params.pf_standard"),
        ("gic_tou", "HEBS-GIC-LV", {"price_group": ""}, "params.price_group"),
        ("two_part", "HEBS-LI-10KV", {"capacity_price": None}, "params.capacity_price: is required"),
        ("two_part", "HEBS-LI-10KV", {"pf_standard": None}, "params.pf_standard: is required"),
        ("two_part", "HEBS-LI-10KV", {"basic_proration": "thirtieths"}, "params.basic_proration"),
        ("two_part", "HEBS-LI-10KV", {"demand_price": "-35"}, "params.demand_price"),
    ],
)
def test_validator_names_the_bad_key(kind: str, code: str, change: dict[str, Any], message: str) -> None:
    params = _params(code)
    params.update(change)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_params(kind, params)


def test_validator_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind"):
        validate_params("flat_rate", {})


def test_compiled_prices_are_integers() -> None:
    v = compile_params("two_part", _params("HEBS-LI-10KV"))
    assert v.capacity_price == 23_300_000  # 23.3 yuan/kVA·month in micro-yuan
    assert v.demand_price == 35_000_000
    assert v.ratios["peak"] == (17, 10)
    assert v.sharp_over_peak == (6, 5)
    assert v.deep_valley_over_valley == (4, 5)


# --- catalogue_load() ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_catalogue_load_matches_the_seed() -> None:
    loaded = catalogue_load()
    seed = catalogue_from_seed()
    assert {(v.code, v.kind, v.effective_from) for v in loaded.versions} >= {
        (v.code, v.kind, v.effective_from) for v in seed.versions
    }
    assert loaded.agency_lookup == seed.agency_lookup
    for standard in ("0.90", "0.85", "0.80"):
        assert len(loaded.pf_tables[standard]) == 101
        assert (loaded.pf_arrays[standard] == seed.pf_arrays[standard]).all()
    # the published boundary rows (domain-rules §4)
    assert loaded.pf_tables["0.90"][95] == Decimal("-0.75")
    assert loaded.pf_tables["0.90"][70] == Decimal("10.00")
    assert loaded.pf_tables["0.90"][65] == Decimal("15.00")
    assert loaded.pf_tables["0.85"][94] == Decimal("-1.10")
    assert loaded.pf_tables["0.80"][92] == Decimal("-1.30")


@pytest.mark.django_db
def test_catalogue_load_takes_few_queries(django_assert_max_num_queries: Any) -> None:
    with django_assert_max_num_queries(3):
        catalogue_load()


# --- adding a version -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_version_add_validates_and_audits(make_user: Any) -> None:
    user = make_user(roles=["marketing_manager"])
    params = _params("HEBS-RES-LV")
    params["prices"] = ["0.53", "0.58", "0.83"]
    version = tariff_version_add(
        actor=user,
        tariff_code="HEBS-RES-LV",
        effective_from=dt.date(2027, 1, 1),
        params=params,
        source="冀发改 test",
    )
    assert version.params["prices"] == ["0.53", "0.58", "0.83"]
    event = AuditEvent.objects.get(action="tariff_version_add", object_id=str(version.pk))
    assert event.after["effective_from"] == "2027-01-01"
    # the engine picks it up from its date
    loaded = catalogue_load()
    assert loaded.version_in_force("HEBS-RES-LV", dt.date(2026, 12, 31)).effective_from == dt.date(2018, 5, 1)
    assert loaded.version_in_force("HEBS-RES-LV", dt.date(2027, 1, 1)).id == version.pk


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"params": {"prices": "0.5"}}, ValidationFailed, "params"),
        ({"effective_from": dt.date(2018, 5, 1)}, ValidationFailed, "effective_from"),
        ({"effective_from": dt.date(2010, 1, 1)}, ValidationFailed, "effective_from"),
        ({"source": "  "}, ValidationFailed, "source"),
        ({"tariff_code": "NOPE"}, Exception, "tariff"),
    ],
)
def test_version_add_refuses_bad_input(kwargs: dict[str, Any], error: type, field: str) -> None:
    args: dict[str, Any] = {
        "actor": "test",
        "tariff_code": "HEBS-RES-LV",
        "effective_from": dt.date(2027, 1, 1),
        "params": _params("HEBS-RES-LV"),
        "source": "test",
    }
    args.update(kwargs)
    before = TariffVersion.objects.count()
    with pytest.raises(error) as caught:
        tariff_version_add(**args)
    assert getattr(caught.value, "field", None) == field
    assert TariffVersion.objects.count() == before


@pytest.mark.django_db
def test_version_add_refuses_a_date_inside_issued_bills() -> None:
    BillFactory(
        tariff_code="HEBS-RES-LV",
        status=BillStatus.ISSUED,
        issued_at=dt.datetime(2026, 11, 5, tzinfo=dt.UTC),
        due_date=dt.date(2026, 11, 20),
    )
    with pytest.raises(Conflict):
        tariff_version_add(
            actor="test",
            tariff_code="HEBS-RES-LV",
            effective_from=dt.date(2026, 10, 15),
            params=_params("HEBS-RES-LV"),
            source="test",
        )


@pytest.mark.django_db
def test_version_add_refuses_a_date_inside_draft_bills_but_not_void_ones() -> None:
    # given a draft October bill of the tariff (rated with the old prices) and a void one
    BillFactory(tariff_code="HEBS-RES-LV", status=BillStatus.DRAFT)
    BillFactory(
        tariff_code="HEBS-RES-LV",
        status=BillStatus.VOID,
        period=dt.date(2026, 11, 1),
        period_start=dt.date(2026, 11, 1),
        period_end=dt.date(2026, 11, 30),
    )
    before = TariffVersion.objects.count()

    def add(day: dt.date) -> TariffVersion:
        return tariff_version_add(
            actor="test",
            tariff_code="HEBS-RES-LV",
            effective_from=day,
            params=_params("HEBS-RES-LV"),
            source="test",
        )

    # when a version takes effect inside the draft's period, then it is refused
    with pytest.raises(Conflict) as caught:
        add(dt.date(2026, 10, 16))
    assert "Draft bills of HEBS-RES-LV" in str(caught.value.message)
    assert TariffVersion.objects.count() == before
    # and after it (inside only the void bill's period) it is accepted
    assert add(dt.date(2026, 11, 1)).effective_from == dt.date(2026, 11, 1)


# --- adding an agency price month -----------------------------------------------------------------

PRICES = {
    "purchase_price": "0.401234",
    "line_loss_fee": "0.0213",
    "transmission_fee": "0.1862",
    "system_fee": "0.0148",
    "fund_fee": "0.0274",
}


@pytest.mark.django_db
def test_agency_price_add() -> None:
    row = agency_price_add(
        actor="test", month=dt.date(2028, 1, 15), price_group="GIC-LV", prices=PRICES, source="公告 2028-01"
    )
    assert row.month == dt.date(2028, 1, 1)
    assert row.purchase_price == Decimal("0.401234")
    assert AuditEvent.objects.filter(action="agency_price_add", object_id=str(row.pk)).exists()
    assert catalogue_load().agency_lookup[(dt.date(2028, 1, 1), "GIC-LV")]["purchase"] == 401_234


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price_group": "NOPE"}, "price_group"),
        ({"month": dt.date(2026, 10, 1)}, "month"),  # already seeded
        ({"prices": {**PRICES, "purchase_price": "-0.1"}}, "purchase_price"),
        ({"prices": {**PRICES, "system_fee": "0.0000001"}}, "system_fee"),
        ({"prices": {**PRICES, "fund_fee": "abc"}}, "fund_fee"),
        ({"source": ""}, "source"),
    ],
)
def test_agency_price_add_refuses_bad_input(change: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {
        "actor": "test",
        "month": dt.date(2028, 2, 1),
        "price_group": "GIC-LV",
        "prices": PRICES,
        "source": "公告",
    }
    args.update(change)
    before = AgencyPurchasePrice.objects.count()
    with pytest.raises((ValidationFailed, Conflict)) as caught:
        agency_price_add(**args)
    assert caught.value.field == field
    assert AgencyPurchasePrice.objects.count() == before


# --- console pages ---------------------------------------------------------------------------------

READ_PAGES = [
    ("billing:quote_tariffs", [], "hotline_agent"),
    ("billing:quote_tariff", ["HEBS-LI-10KV"], "hotline_agent"),
    ("billing:quote_agency", [], "hotline_agent"),
    ("billing:quote_pf", [], "hotline_agent"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "args", "role"), READ_PAGES)
def test_catalogue_pages_permission_matrix(name: str, args: list[str], role: str, make_user: Any) -> None:
    url = reverse(name, args=args)
    for who, expected in matrix_clients(make_user, role):
        response = who.get(url)
        assert response.status_code == expected, (who.label, response.status_code)
        if expected == 302:
            assert "login" in response["Location"]


def matrix_clients(make_user: Any, role: str) -> list[tuple[Any, int]]:
    """(client, expected status): anonymous, a portal customer, staff without the
    permission (metering technician), staff with it."""
    from django.test import Client

    from gridcare.customers.tests.factories import AccountFactory, CustomerFactory

    anonymous = Client()
    anonymous.label = "anonymous"
    customer = CustomerFactory(with_login=True)
    AccountFactory(customer=customer)
    portal = Client()
    portal.force_login(customer.user)
    portal.label = "customer"
    without = Client()
    without.force_login(make_user(roles=["metering_tech"]))
    without.label = "staff without the permission"
    allowed = Client()
    allowed.force_login(make_user(roles=[role]))
    allowed.label = role
    return [(anonymous, 302), (portal, 403), (without, 403), (allowed, 200)]


@pytest.mark.django_db
def test_tariff_page_shows_params_and_source(staff_client: Any) -> None:
    page = staff_client(roles=["hotline_agent"]).get(reverse("billing:quote_tariff", args=["HEBS-LI-10KV"]))
    text = page.content.decode()
    assert "23.3" in text
    assert "冀发改能价〔2025〕1115号" in text
    assert "Add a version" not in text  # a hotline agent may not add one


@pytest.mark.django_db
def test_pf_page_lists_the_three_standards(staff_client: Any) -> None:
    text = staff_client(roles=["auditor"]).get(reverse("billing:quote_pf")).content.decode()
    assert text.count("<tr") == 102  # header + 101 power factors
    assert "-0.75 %" in text
    assert "-1.10 %" in text
    assert "-1.30 %" in text


@pytest.mark.django_db
def test_add_version_form_permission_and_errors(staff_client: Any, client: Any) -> None:
    url = reverse("billing:quote_version_add", args=["HEBS-RES-LV"])
    assert client.get(url).status_code == 302
    assert staff_client(roles=["billing_clerk"]).get(url).status_code == 403  # no add_tariffversion
    manager = staff_client(roles=["marketing_manager"])
    form = manager.get(url)
    assert form.status_code == 200
    assert "2160" in form.content.decode()
    params = _params("HEBS-RES-LV")
    params["prices"] = ["0.52", "0.57"]
    bad = manager.post(url, {"effective_from": "2027-01-01", "params": json.dumps(params), "source": "x"})
    assert bad.status_code == 200
    assert "params.prices: needs 3 prices" in bad.content.decode()
    bad_json = manager.post(url, {"effective_from": "2027-01-01", "params": "{", "source": "x"})
    assert "JSON" in bad_json.content.decode()
    params["prices"] = ["0.52", "0.57", "0.85"]
    before = TariffVersion.objects.count()
    ok = manager.post(
        url, {"effective_from": "2027-01-01", "params": json.dumps(params), "source": "冀发改 x"}
    )
    assert ok.status_code == 302
    assert TariffVersion.objects.count() == before + 1
    assert AuditEvent.objects.filter(action="tariff_version_add").count() == 1


@pytest.mark.django_db
def test_add_agency_month_form(staff_client: Any) -> None:
    url = reverse("billing:quote_agency_add")
    assert staff_client(roles=["hotline_agent"]).get(url).status_code == 403
    manager = staff_client(roles=["marketing_manager"])
    data = {"month": "2028-03", "price_group": "LI-10KV", "source": "公告", **PRICES}
    assert manager.post(url, {**data, "purchase_price": "x"}).status_code == 200
    ok = manager.post(url, data)
    assert ok.status_code == 302
    assert AgencyPurchasePrice.objects.filter(month=dt.date(2028, 3, 1), price_group="LI-10KV").exists()
