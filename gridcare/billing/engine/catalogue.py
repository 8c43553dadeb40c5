"""The tariff catalogue as the rating engine sees it (pure: no Django).

:class:`Catalogue` holds every tariff version, the agency purchase prices by month and
price group, and the power-factor adjustment tables. It is built from the database by
``gridcare.billing.services.catalogue.catalogue_load()``, from the shipped seed by
:func:`catalogue_from_seed`, or by hand in tests.

Parameters of a version (``TariffVersion.params``; every number an exact decimal STRING,
each version carries its source citation):

``res_tiered`` — residential tiers
    ``tier_basis``: ``"annual"`` (year-to-date kWh over the calendar year) or
    ``"monthly"`` (bounds per calendar month); ``tier_upper_kwh``: ascending upper bounds
    of every tier but the last (``["2160", "3360"]``); ``prices``: yuan/kWh per tier (one
    more than the bounds); ``included_funds`` (optional): ``{name: yuan/kWh}`` of the
    government funds inside the price — printed as INFO lines, never added.
``res_tou`` — residential tiers with peak/valley
    as ``res_tiered`` but ``peak_prices`` and ``valley_prices`` instead of ``prices``.
``gic_tou`` — general I&C single-part TOU on the agency purchase price
    ``price_group``: the ``AgencyPurchasePrice.price_group`` to use; ``ratios``:
    ``{"peak", "flat", "valley"}`` multiplying the month's purchase price;
    ``sharp_over_peak`` / ``deep_valley_over_valley``: ratio or null (none below 1 kV);
    ``pf_standard``: ``"0.90"``/``"0.85"``/``"0.80"`` or null (no power-factor adjustment).
``two_part`` — 两部制
    as ``gic_tou`` plus ``capacity_price`` (yuan/kVA·month), ``demand_price``
    (yuan/kW·month) and ``basic_proration``: ``"calendar_days"`` (a partial month pays
    days ÷ days in that month).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

import polars as pl

from gridcare.billing.engine.rounding import (
    WH_PER_KWH,
    decimal_to_micro,
    kwh_to_wh,
    ratio_to_fraction,
)

KINDS = ("res_tiered", "res_tou", "gic_tou", "two_part")
TIER_BASES = ("annual", "monthly")
PF_STANDARDS = ("0.90", "0.85", "0.80")
TOU_REGISTERS = ("sharp", "peak", "flat", "valley", "deep_valley")
BASIC_PRORATIONS = ("calendar_days",)
MAX_TIERS = 6


@dataclass(frozen=True)
class VersionRow:
    """One tariff version: ``id`` is ``TariffVersion.pk`` (0 … for hand-built catalogues)."""

    id: int
    code: str
    kind: str
    effective_from: dt.date
    params: Mapping[str, Any]
    source: str = ""
    name: str = ""


@dataclass(frozen=True)
class AgencyPriceRow:
    """代理购电价格 of one month (first day) and price group, Decimal yuan/kWh."""

    month: dt.date
    price_group: str
    purchase_price: Decimal
    line_loss_fee: Decimal
    transmission_fee: Decimal
    system_fee: Decimal
    fund_fee: Decimal
    source: str = ""


@dataclass(frozen=True)
class CompiledVersion:
    """A version's params as integers (micro-yuan, Wh, ratio fractions)."""

    id: int
    code: str
    kind: str
    effective_from: dt.date
    tier_basis: str | None = None
    tier_upper_wh: tuple[int, ...] = ()
    prices: tuple[int, ...] = ()
    peak_prices: tuple[int, ...] = ()
    valley_prices: tuple[int, ...] = ()
    included_funds: tuple[tuple[str, int], ...] = ()
    price_group: str | None = None
    ratios: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    sharp_over_peak: tuple[int, int] | None = None
    deep_valley_over_valley: tuple[int, int] | None = None
    pf_standard: str | None = None
    capacity_price: int | None = None
    demand_price: int | None = None
    basic_proration: str | None = None


def _fail(key: str, message: str) -> ValueError:
    return ValueError(f"params.{key}: {message}")


def _require(params: Mapping[str, Any], key: str) -> Any:
    if key not in params or params[key] is None:
        raise _fail(key, "is required")
    return params[key]


def _price(params: Mapping[str, Any], key: str) -> int:
    value = _require(params, key)
    try:
        micro = decimal_to_micro(value, what=f"params.{key}")
    except ValueError as exc:
        raise ValueError(str(exc)) from exc
    if micro < 0:
        raise _fail(key, f"{value} must not be negative")
    return micro


def _price_list(params: Mapping[str, Any], key: str, count: int) -> tuple[int, ...]:
    values = _require(params, key)
    if not isinstance(values, list | tuple):
        raise _fail(key, "must be a list of prices (decimal strings)")
    if len(values) != count:
        raise _fail(key, f"needs {count} prices (one per tier), got {len(values)}")
    out = []
    for i, value in enumerate(values):
        micro = decimal_to_micro(value, what=f"params.{key}[{i}]")
        if micro < 0:
            raise _fail(f"{key}[{i}]", f"{value} must not be negative")
        out.append(micro)
    return tuple(out)


def _ratio(params: Mapping[str, Any], key: str, *, optional: bool = False) -> tuple[int, int] | None:
    value = params.get(key)
    if value is None:
        if optional:
            return None
        raise _fail(key, "is required")
    return ratio_to_fraction(value, what=f"params.{key}")


def _pf_standard(params: Mapping[str, Any], *, optional: bool) -> str | None:
    value = params.get("pf_standard")
    if value is None:
        if optional:
            return None
        raise _fail("pf_standard", f"is required (one of {', '.join(PF_STANDARDS)})")
    if str(value) not in PF_STANDARDS:
        raise _fail("pf_standard", f"{value!r} is not one of {', '.join(PF_STANDARDS)}")
    return str(value)


def _tiers(params: Mapping[str, Any]) -> tuple[str, tuple[int, ...]]:
    basis = _require(params, "tier_basis")
    if basis not in TIER_BASES:
        raise _fail("tier_basis", f"{basis!r} is not one of {', '.join(TIER_BASES)}")
    bounds = _require(params, "tier_upper_kwh")
    if not isinstance(bounds, list | tuple) or not bounds:
        raise _fail("tier_upper_kwh", "must be a non-empty list of kWh bounds (decimal strings)")
    if len(bounds) >= MAX_TIERS:
        raise _fail("tier_upper_kwh", f"at most {MAX_TIERS - 1} bounds")
    wh: list[int] = []
    for i, value in enumerate(bounds):
        if isinstance(value, float):
            raise _fail(f"tier_upper_kwh[{i}]", "write the bound as a string")
        bound = kwh_to_wh(value, what=f"params.tier_upper_kwh[{i}]")
        if bound <= (wh[-1] if wh else 0):
            raise _fail("tier_upper_kwh", "bounds must be positive and strictly ascending")
        wh.append(bound)
    return str(basis), tuple(wh)


def _funds(params: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    funds = params.get("included_funds") or {}
    if not isinstance(funds, Mapping):
        raise _fail("included_funds", "must be an object {name: yuan/kWh}")
    out = []
    for name, value in funds.items():
        if not str(name).replace("_", "").isalnum():
            raise _fail("included_funds", f"name {name!r} must be letters, digits and _")
        micro = decimal_to_micro(value, what=f"params.included_funds.{name}")
        if micro < 0:
            raise _fail(f"included_funds.{name}", "must not be negative")
        out.append((str(name), micro))
    return tuple(out)


KNOWN_KEYS = {
    "res_tiered": {"tier_basis", "tier_upper_kwh", "prices", "included_funds"},
    "res_tou": {"tier_basis", "tier_upper_kwh", "peak_prices", "valley_prices", "included_funds"},
    "gic_tou": {"price_group", "ratios", "sharp_over_peak", "deep_valley_over_valley", "pf_standard"},
    "two_part": {
        "price_group",
        "ratios",
        "sharp_over_peak",
        "deep_valley_over_valley",
        "pf_standard",
        "capacity_price",
        "demand_price",
        "basic_proration",
    },
}


def compile_params(
    kind: str,
    params: Mapping[str, Any],
    *,
    version_id: int = 0,
    code: str = "",
    effective_from: dt.date | None = None,
) -> CompiledVersion:
    """Validate a version's ``params`` for ``kind`` and turn them into integers.

    Raises ``ValueError("params.<key>: …")`` naming the first bad key."""
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    if not isinstance(params, Mapping):
        raise ValueError("params: must be an object")
    unknown = sorted(set(params) - KNOWN_KEYS[kind])
    if unknown:
        raise _fail(unknown[0], f"is not a parameter of a {kind} tariff")
    eff = effective_from or dt.date(1970, 1, 1)
    if kind in ("res_tiered", "res_tou"):
        basis, bounds = _tiers(params)
        n = len(bounds) + 1
        funds = _funds(params)
        if kind == "res_tiered":
            return CompiledVersion(
                id=version_id,
                code=code,
                kind=kind,
                effective_from=eff,
                tier_basis=basis,
                tier_upper_wh=bounds,
                prices=_price_list(params, "prices", n),
                included_funds=funds,
            )
        return CompiledVersion(
            id=version_id,
            code=code,
            kind=kind,
            effective_from=eff,
            tier_basis=basis,
            tier_upper_wh=bounds,
            peak_prices=_price_list(params, "peak_prices", n),
            valley_prices=_price_list(params, "valley_prices", n),
            included_funds=funds,
        )
    group = _require(params, "price_group")
    if not isinstance(group, str) or not group.strip():
        raise _fail("price_group", "must be a price group name (e.g. GIC-LV)")
    ratios_in = _require(params, "ratios")
    if not isinstance(ratios_in, Mapping):
        raise _fail("ratios", 'must be an object {"peak": …, "flat": …, "valley": …}')
    extra = sorted(set(ratios_in) - {"peak", "flat", "valley"})
    if extra:
        raise _fail(f"ratios.{extra[0]}", "unknown period (peak, flat, valley)")
    ratios: dict[str, tuple[int, int]] = {}
    for name in ("peak", "flat", "valley"):
        if ratios_in.get(name) is None:
            raise _fail(f"ratios.{name}", "is required")
        ratios[name] = ratio_to_fraction(ratios_in[name], what=f"params.ratios.{name}")
    common: dict[str, Any] = {
        "id": version_id,
        "code": code,
        "kind": kind,
        "effective_from": eff,
        "price_group": group,
        "ratios": ratios,
        "sharp_over_peak": _ratio(params, "sharp_over_peak", optional=True),
        "deep_valley_over_valley": _ratio(params, "deep_valley_over_valley", optional=True),
        "pf_standard": _pf_standard(params, optional=kind == "gic_tou"),
    }
    if kind == "gic_tou":
        return CompiledVersion(**common)
    proration = params.get("basic_proration", "calendar_days")
    if proration not in BASIC_PRORATIONS:
        raise _fail("basic_proration", f"{proration!r} is not one of {', '.join(BASIC_PRORATIONS)}")
    return CompiledVersion(
        **common,
        capacity_price=_price(params, "capacity_price"),
        demand_price=_price(params, "demand_price"),
        basic_proration=proration,
    )


def validate_params(kind: str, params: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the bad key when ``params`` do not fit ``kind``."""
    compile_params(kind, params)


@dataclass(frozen=True)
class Catalogue:
    """Everything the engine needs to price: versions, agency prices, PF tables.

    ``pf_tables``: ``{standard: {power factor × 100 (0…100): percent (Decimal)}}``."""

    versions: tuple[VersionRow, ...]
    agency_prices: tuple[AgencyPriceRow, ...] = ()
    pf_tables: Mapping[str, Mapping[int, Decimal]] = field(default_factory=dict)

    # --- compiled views (computed once per catalogue object) ---------------------------

    @cached_property
    def compiled(self) -> dict[int, CompiledVersion]:
        """The valid versions as integers (an invalid one is in :attr:`invalid` instead)."""
        out: dict[int, CompiledVersion] = {}
        for v in self.versions:
            if v.id in self.invalid:
                continue
            out[v.id] = compile_params(
                v.kind, v.params, version_id=v.id, code=v.code, effective_from=v.effective_from
            )
        return out

    @cached_property
    def invalid(self) -> dict[int, str]:
        """Versions whose params do not validate → the reason. The engine reports the
        periods that fall in such a version as errors instead of pricing them."""
        out: dict[int, str] = {}
        for v in self.versions:
            try:
                compile_params(
                    v.kind, v.params, version_id=v.id, code=v.code, effective_from=v.effective_from
                )
            except ValueError as exc:
                out[v.id] = f"tariff {v.code} version {v.effective_from} has invalid parameters: {exc}"
        return out

    @cached_property
    def version_frame(self) -> pl.DataFrame:
        """code, version_id, kind, v_from, v_to (inclusive; the day before the next version)."""
        rows = sorted(self.versions, key=lambda v: (v.code, v.effective_from))
        far = dt.date(9999, 12, 31)
        data: dict[str, list[Any]] = {
            "tariff_code": [],
            "version_id": [],
            "kind": [],
            "v_from": [],
            "v_to": [],
        }
        for i, v in enumerate(rows):
            nxt = rows[i + 1] if i + 1 < len(rows) and rows[i + 1].code == v.code else None
            data["tariff_code"].append(v.code)
            data["version_id"].append(v.id)
            data["kind"].append(v.kind)
            data["v_from"].append(v.effective_from)
            data["v_to"].append(nxt.effective_from - dt.timedelta(days=1) if nxt else far)
        return pl.DataFrame(
            data,
            schema={
                "tariff_code": pl.String,
                "version_id": pl.Int64,
                "kind": pl.String,
                "v_from": pl.Date,
                "v_to": pl.Date,
            },
        )

    @cached_property
    def agency_frame(self) -> pl.DataFrame:
        """month, price_group and the five prices in micro-yuan."""
        return pl.DataFrame(
            {
                "month": [a.month for a in self.agency_prices],
                "price_group": [a.price_group for a in self.agency_prices],
                "purchase": [
                    decimal_to_micro(a.purchase_price, what="purchase_price") for a in self.agency_prices
                ],
                "line_loss": [
                    decimal_to_micro(a.line_loss_fee, what="line_loss_fee") for a in self.agency_prices
                ],
                "transmission": [
                    decimal_to_micro(a.transmission_fee, what="transmission_fee") for a in self.agency_prices
                ],
                "system": [decimal_to_micro(a.system_fee, what="system_fee") for a in self.agency_prices],
                "fund": [decimal_to_micro(a.fund_fee, what="fund_fee") for a in self.agency_prices],
            },
            schema={
                "month": pl.Date,
                "price_group": pl.String,
                "purchase": pl.Int64,
                "line_loss": pl.Int64,
                "transmission": pl.Int64,
                "system": pl.Int64,
                "fund": pl.Int64,
            },
        )

    @cached_property
    def pf_frame(self) -> pl.DataFrame:
        """pf_standard, pf_centi (0…100), pf_percent_centi (percent × 100, integer)."""
        std, pf, pc = [], [], []
        for standard, table in self.pf_tables.items():
            for k, percent in table.items():
                cents = Decimal(percent) * 100
                if cents != cents.to_integral_value():
                    raise ValueError(f"power-factor table {standard} at {k}: {percent} has > 2 decimals")
                std.append(str(standard))
                pf.append(int(k))
                pc.append(int(cents))
        return pl.DataFrame(
            {"pf_standard": std, "pf_centi": pf, "pf_percent_centi": pc},
            schema={"pf_standard": pl.String, "pf_centi": pl.Int64, "pf_percent_centi": pl.Int64},
        )

    @cached_property
    def agency_lookup(self) -> dict[tuple[dt.date, str], dict[str, int]]:
        """(month, price group) → the five prices in micro-yuan."""
        return {(row["month"], row["price_group"]): row for row in self.agency_frame.to_dicts()}

    @cached_property
    def pf_arrays(self) -> dict[str, Any]:
        """standard → NumPy int64[101]: percent × 100 by pf × 100 (int64 min where missing)."""
        import numpy as np

        out: dict[str, Any] = {}
        for standard in PF_STANDARDS:
            arr = np.full(101, np.iinfo(np.int64).min, dtype=np.int64)
            frame = self.pf_frame.filter(pl.col("pf_standard") == standard)
            arr[frame["pf_centi"].to_numpy()] = frame["pf_percent_centi"].to_numpy()
            out[standard] = arr
        return out

    def version_in_force(self, code: str, day: dt.date) -> VersionRow | None:
        best = None
        for v in self.versions:
            if (
                v.code == code
                and v.effective_from <= day
                and (best is None or v.effective_from > best.effective_from)
            ):
                best = v
        return best

    def codes(self) -> set[str]:
        return {v.code for v in self.versions}


def catalogue_from_seed() -> Catalogue:
    """The catalogue shipped in ``gridcare.billing.seed_data`` (version ids 1…5 in seed
    order), for tests, benchmarks and quotes without a database."""
    from gridcare.billing import seed_data  # plain data, no Django

    versions = tuple(
        VersionRow(
            id=i + 1,
            code=spec["code"],
            kind=spec["kind"],
            effective_from=spec["effective_from"],
            params=spec["params"],
            source=spec["source"],
            name=spec["name"],
        )
        for i, spec in enumerate(seed_data.TARIFFS)
    )
    agency = tuple(
        AgencyPriceRow(
            month=row["month"],
            price_group=row["price_group"],
            purchase_price=row["purchase_price"],
            line_loss_fee=row["line_loss_fee"],
            transmission_fee=row["transmission_fee"],
            system_fee=row["system_fee"],
            fund_fee=row["fund_fee"],
            source=row["source"],
        )
        for row in seed_data._agency_rows()
    )
    tables: dict[str, dict[int, Decimal]] = {}
    for standard, pf, percent in seed_data._pf_rows():
        tables.setdefault(standard, {})[int(Decimal(pf) * 100)] = Decimal(percent)
    return Catalogue(versions=versions, agency_prices=agency, pf_tables=tables)


__all__ = [
    "KINDS",
    "TOU_REGISTERS",
    "WH_PER_KWH",
    "AgencyPriceRow",
    "Catalogue",
    "CompiledVersion",
    "VersionRow",
    "catalogue_from_seed",
    "compile_params",
    "validate_params",
]
