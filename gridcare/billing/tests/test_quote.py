"""电费试算: the quote service, ``gridcare billing quote``, ``POST /api/billing/quote`` and the
console form, with their permission matrices."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from gridcare.billing.engine.catalogue import catalogue_from_seed
from gridcare.billing.management.commands.billing import Command as BillingCommand
from gridcare.billing.services.quote import bill_quote
from gridcare.core.errors import ValidationFailed

CAT = catalogue_from_seed()

RESIDENTIAL = {
    "tariff": "HEBS-RES-LV",
    "period_start": "2026-10-01",
    "period_end": "2026-10-31",
    "registers": {"total": "300"},
    "ytd_kwh_before": "2000",
}
TWO_PART = {
    "tariff": "HEBS-LI-10KV",
    "period_start": "2026-10-01",
    "period_end": "2026-10-31",
    "registers": {"flat": 1000},
    "basic_charge_by": "demand",
    "max_demand_kw": "100",
    "reactive_kvarh": "539.835",  # pf = 1000 / √(1000² + 539.835²) = 0.88 → +1 % under 0.90
}


# --- the service ------------------------------------------------------------------------------


def test_residential_quote_shows_the_tiers() -> None:
    # ytd 2,000 + 300 kWh: 160 kWh × 0.52 = 83.20 in tier 1, 140 kWh × 0.57 = 79.80 in tier 2
    result = bill_quote(payload=RESIDENTIAL, catalogue=CAT)
    lines = {line["item"]: line for line in result["lines"]}
    assert {k: lines["energy_tier1"][k] for k in ("item", "kwh", "unit_price", "amount")} == {
        "item": "energy_tier1",
        "kwh": "160.000",
        "unit_price": "0.520000",
        "amount": "83.20",
    }
    assert lines["energy_tier2"]["amount"] == "79.80"
    assert lines["fund_water_works"]["kind"] == "info"  # 300 × 0.0053 = 1.59, not added
    assert lines["fund_water_works"]["amount"] == "1.59"
    assert result["total"] == "163.00"
    assert result["kwh"] == "300.000"
    assert result["tiers"] == [{"name": "Tier 1", "kwh": "160.000"}, {"name": "Tier 2", "kwh": "140.000"}]
    assert "Tier 1" in lines["energy_tier1"]["label"]


def test_two_part_quote_with_power_factor() -> None:
    # basic 100 kW × 35 = 3,500.00; energy 1,000 kWh × 0.387 = 387.00; unfloated 21.30 + 121.60 + 14.80;
    # fund 27.40; pf 0.88 → +1 % of 4,044.70 = 40.447 → 40.45. Total 4,112.55.
    result = bill_quote(payload=TWO_PART, catalogue=CAT)
    lines = {line["item"]: line for line in result["lines"]}
    assert lines["basic_demand"]["amount"] == "3500.00"
    assert lines["basic_demand"]["kwh"] is None
    assert lines["basic_demand"]["unit_price"] == "35.000000"
    assert lines["pf_adjustment"]["amount"] == "40.45"
    assert "0.88" in lines["pf_adjustment"]["label"]
    assert lines["fund"]["amount"] == "27.40"
    assert result["total"] == "4112.55"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tariff": "NOPE"}, "tariff"),
        ({"tariff": None}, "tariff"),
        ({"period_start": "2026-13-01"}, "period_start"),
        ({"period_end": "2026-09-30"}, "period_end"),
        ({"period_end": "2028-01-01"}, "period_end"),  # more than 366 days
        ({"registers": {}}, "registers"),
        ({"registers": {"total": "-1"}}, "registers.total"),
        ({"registers": {"total": "1.0001"}}, "registers.total"),
        ({"registers": {"total": "abc"}}, "registers.total"),
        ({"registers": {"reactive": "1"}}, "registers.reactive"),
        ({"registers": {"sharp": "1"}}, "registers.sharp"),
        ({"ytd_kwh_before": "x"}, "ytd_kwh_before"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_residential_bad_input_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        bill_quote(payload={**RESIDENTIAL, **change}, catalogue=CAT)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"basic_charge_by": None}, "basic_charge_by"),
        ({"basic_charge_by": "capacity"}, "capacity_kva"),
        ({"max_demand_kw": None}, "max_demand_kw"),
        ({"reactive_kvarh": True}, "reactive_kvarh"),
        ({"period_start": "2025-10-01", "period_end": "2025-10-31"}, "period_start"),  # before the version
        ({"period_start": "2030-01-01", "period_end": "2030-01-31"}, "period_start"),  # no agency price
        ({"registers": {"total": "10", "flat": "9"}}, "registers.total"),
    ],
)
def test_two_part_bad_input_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        bill_quote(payload={**TWO_PART, **change}, catalogue=CAT)
    assert caught.value.field == field


def test_residential_tou_needs_both_registers() -> None:
    payload = {**RESIDENTIAL, "tariff": "HEBS-RES-LV-TOU", "registers": {"peak": "100"}}
    with pytest.raises(ValidationFailed) as caught:
        bill_quote(payload=payload, catalogue=CAT)
    assert caught.value.field == "registers.valley"


def test_not_an_object() -> None:
    with pytest.raises(ValidationFailed):
        bill_quote(payload=[1, 2], catalogue=CAT)  # type: ignore[arg-type]


# --- CLI ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cli_quote_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "quote.json"
    path.write_text(json.dumps(RESIDENTIAL), encoding="utf-8")
    out = io.StringIO()
    call_command("billing", "quote", "--json", str(path), stdout=out)
    result = json.loads(out.getvalue())
    assert result["total"] == "163.00"
    assert {"item", "kwh", "unit_price", "amount"} <= set(result["lines"][0])


@pytest.mark.django_db
def test_cli_quote_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(TWO_PART)))
    out = io.StringIO()
    call_command("billing", "quote", "--json", "-", stdout=out)
    assert json.loads(out.getvalue())["total"] == "4112.55"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "--json: not valid JSON"),
        (json.dumps({**RESIDENTIAL, "tariff": "NOPE"}), "tariff: Unknown tariff NOPE"),
        (json.dumps({**RESIDENTIAL, "registers": {"total": "-3"}}), "registers.total: Must not be negative"),
    ],
)
def test_cli_bad_input(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "quote.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CommandError, match=message):
        call_command("billing", "quote", "--json", str(path))


@pytest.mark.django_db
def test_cli_exit_status_is_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        BillingCommand().run_from_argv(
            ["gridcare", "billing", "quote", "--json", str(tmp_path / "missing.json")]
        )
    assert caught.value.code == 1
    assert "cannot read" in capsys.readouterr().err


# --- API ---------------------------------------------------------------------------------------

API = "/api/billing/quote"


def _clients(make_user: Any) -> list[tuple[str, Client, int]]:
    from gridcare.customers.tests.factories import AccountFactory, CustomerFactory

    customer = CustomerFactory(with_login=True)
    AccountFactory(customer=customer)
    portal = Client()
    portal.force_login(customer.user)
    without = Client()
    without.force_login(make_user(roles=["metering_tech"]))  # no billing.view_tariff
    agent = Client()
    agent.force_login(make_user(roles=["hotline_agent"]))
    return [
        ("anonymous", Client(), 401),
        ("customer", portal, 403),
        ("metering_tech", without, 403),
        ("hotline", agent, 200),
    ]


@pytest.mark.django_db
def test_api_permission_matrix(make_user: Any) -> None:
    for label, client, expected in _clients(make_user):
        response = client.post(API, data=json.dumps(RESIDENTIAL), content_type="application/json")
        assert response.status_code == expected, label
        if expected == 200:
            assert response.json()["total"] == "163.00"
        else:
            assert "code" in response.json()


@pytest.mark.django_db
def test_api_bad_input_names_the_field(staff_client: Any) -> None:
    client = staff_client(roles=["inspector"])  # inspectors have billing.view_tariff
    bad = client.post(
        API, data=json.dumps({**RESIDENTIAL, "period_end": "x"}), content_type="application/json"
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "period_end"
    junk = client.post(API, data="{", content_type="application/json")
    assert junk.status_code == 422


# --- console form ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_quote_page_permission_matrix(make_user: Any) -> None:
    url = reverse("billing:quote")
    expected = {"anonymous": 302, "customer": 403, "metering_tech": 403, "hotline": 200}
    for label, client, _api_status in _clients(make_user):
        assert client.get(url).status_code == expected[label], label


@pytest.mark.django_db
def test_quote_page_shows_lines_tiers_and_total(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    params = {
        "tariff": "HEBS-RES-LV",
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "total": "300",
        "ytd_kwh_before": "2000",
    }
    page = client.get(reverse("billing:quote"), params)
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="quote-total"><strong>163.00</strong>' in text
    assert "Tier 2: 140.000 kWh (46.7 %)" in text  # the stacked bar's legend
    assert "国家重大水利工程建设基金" in text  # INFO lines shown apart


@pytest.mark.django_db
def test_quote_page_puts_a_service_error_on_its_field(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    params = {
        "tariff": "HEBS-RES-LV-TOU",
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "peak": "100",
    }
    page = client.get(reverse("billing:quote"), params)
    assert page.status_code == 200
    form = page.context["form"]
    assert "valley" in form.errors
    assert page.context["result"] is None
