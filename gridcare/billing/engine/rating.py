"""The rating engine: a frame of accounts' period data → bill lines (pure: no Django).

See the contract in :mod:`gridcare.billing.engine` and the operator's view in
docs/billing-tariffs.md. Everything is vectorised per tariff kind with Polars on integer
units (Wh, micro-yuan, fen); there is no per-row Python except the exact check of a power
factor that falls within 1e-6 of a rounding boundary.

How a period is rated
---------------------
1. Each period is cut into *segments*: the pieces inside one tariff version and one
   calendar month (a new version, a new month's agency price, a monthly tier window or a
   new year all start a new segment).
2. Every register (and the total) is split over the segments by days: segment i gets
   ``floor(W·c_i/D) − floor(W·c_{i−1}/D)`` Wh, ``c_i`` the days of the period up to the end
   of segment i, ``D`` the period's days — the parts sum exactly to ``W``.
3. Tiers: the position of a segment inside its tier window (calendar year for annual tiers,
   starting from ``ytd_wh_before`` in the period's first year and from 0 after 1 January;
   calendar month for monthly tiers, whose bounds are pro-rated by the period's days in that
   month ÷ the month's days, half-up to the Wh) decides how its kWh fall into tiers.
   Residential TOU: each tier's kWh are split between peak and valley in proportion to the
   segment's peak and valley registers (cumulative floor, so they sum exactly).
4. Lines of the same item, price and version are merged over segments, then each line's
   amount is ``wh × unit price`` rounded half-up to the fen. Basic-charge lines stay one per
   month piece (each has its own days ÷ month days).
5. Power factor (two-part, or any version with ``pf_standard``): pf = A/√(A²+R²) rounded
   half-up to 2 places, looked up in the version's standard table, applied to basic +
   energy + unfloated parts (not the government funds) of that version's lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from gridcare.billing.engine.catalogue import MAX_TIERS, Catalogue, CompiledVersion
from gridcare.billing.engine.rounding import WH_MICRO_PER_FEN, expr_div_half_up, expr_div_half_up_nonneg

PERIOD_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "tariff_code": pl.String,
    "period_start": pl.Date,
    "period_end": pl.Date,
    "total_wh": pl.Int64,
    "sharp_wh": pl.Int64,
    "peak_wh": pl.Int64,
    "flat_wh": pl.Int64,
    "valley_wh": pl.Int64,
    "deep_valley_wh": pl.Int64,
    "reactive_varh": pl.Int64,
    "max_demand_w": pl.Int64,
    "capacity_va": pl.Int64,
    "basic_charge_by": pl.String,
    "ytd_wh_before": pl.Int64,
    "service_days": pl.Int64,
}

LINE_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "seq": pl.Int32,
    "kind": pl.String,
    "item": pl.String,
    "wh": pl.Int64,
    "unit_price_micro": pl.Int64,
    "amount_fen": pl.Int64,
    "tariff_version_id": pl.Int64,
    # additions to the contract (for bill notices and the quote):
    "line_from": pl.Date,  # first day the line covers
    "line_to": pl.Date,  # last day the line covers
    "qty": pl.Int64,  # basic charge: VA (capacity) or W (demand) billed; pf: null
    "days": pl.Int64,  # basic charge: days billed in the month
    "month_days": pl.Int64,  # basic charge: days of that month
    "pf_centi": pl.Int64,  # pf line: power factor × 100
    "pf_percent_centi": pl.Int64,  # pf line: adjustment percent × 100 (−75 = −0.75 %)
}
TOTAL_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "wh": pl.Int64,
    "total_fen": pl.Int64,
    "period_start": pl.Date,
    "period_end": pl.Date,
}
ERROR_SCHEMA: dict[str, Any] = {"account_id": pl.Int64, "reason": pl.String}

REGISTERS = ("sharp", "peak", "flat", "valley", "deep_valley")
KIND_RANK = {"basic": 0, "energy": 1, "pass": 2, "fund": 3, "pf": 4, "info": 5}
PASS_PARTS = (
    ("pass_line_loss", "line_loss"),
    ("pass_transmission", "transmission"),
    ("pass_system", "system"),
)
BIG = 1 << 60  # "no upper bound" for a tier


@dataclass(frozen=True)
class Rating:
    """The engine's answer: ``lines``, ``totals`` (one row per rated period) and ``errors``."""

    lines: pl.DataFrame
    totals: pl.DataFrame
    errors: pl.DataFrame


def empty_periods() -> pl.DataFrame:
    return pl.DataFrame(schema=PERIOD_SCHEMA)


def _empty(schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def _normalise(periods: pl.DataFrame) -> pl.DataFrame:
    missing = [
        c for c in ("account_id", "tariff_code", "period_start", "period_end") if c not in periods.columns
    ]
    if missing:
        raise ValueError(f"periods: missing column(s) {', '.join(missing)}")
    cols = []
    for name, dtype in PERIOD_SCHEMA.items():
        if name in periods.columns:
            cols.append(pl.col(name).cast(dtype))
        elif name == "ytd_wh_before":
            cols.append(pl.lit(0, dtype=dtype).alias(name))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return periods.select(cols).with_row_index("_r").with_columns(pl.col("_r").cast(pl.Int64))


def _days(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """Whole days from date a to date b (b − a)."""
    return (b - a).dt.total_days().cast(pl.Int64)


def _apportion(col: str) -> pl.Expr:
    """Split a period quantity over the segment by days (cumulative floor: parts sum exactly)."""
    w = pl.col(col)
    return (w * pl.col("_c1")) // pl.col("_D") - (w * pl.col("_c0")) // pl.col("_D")


# --- segments ----------------------------------------------------------------------------------


def _segments(p: pl.DataFrame, catalogue: Catalogue) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    errors: list[pl.DataFrame] = []
    bad_dates = p.filter(pl.col("period_start").is_null() | pl.col("period_end").is_null())
    bad_dates = pl.concat([bad_dates, p.filter(pl.col("period_end") < pl.col("period_start"))])
    if bad_dates.height:
        errors.append(
            bad_dates.select("_r", "account_id", pl.lit("period_end before period_start").alias("reason"))
        )
        p = p.filter(pl.col("period_end") >= pl.col("period_start"))
    vf = catalogue.version_frame
    codes = vf.group_by("tariff_code").agg(pl.col("v_from").min().alias("_first"))
    p = p.join(codes, on="tariff_code", how="left")
    unknown = p.filter(pl.col("_first").is_null())
    if unknown.height:
        errors.append(
            unknown.select(
                "_r",
                "account_id",
                (pl.lit("unknown tariff ") + pl.col("tariff_code").fill_null("(none)")).alias("reason"),
            )
        )
    early = p.filter(pl.col("_first") > pl.col("period_start"))
    if early.height:
        errors.append(
            early.select(
                "_r",
                "account_id",
                (
                    pl.lit("no version of ")
                    + pl.col("tariff_code")
                    + pl.lit(" in force on ")
                    + pl.col("period_start").dt.to_string("%Y-%m-%d")
                ).alias("reason"),
            )
        )
    p = p.filter(pl.col("_first") <= pl.col("period_start")).drop("_first")
    seg = p.join(vf, on="tariff_code", how="inner").filter(
        (pl.col("v_from") <= pl.col("period_end")) & (pl.col("v_to") >= pl.col("period_start"))
    )
    seg = seg.with_columns(
        pl.max_horizontal("period_start", "v_from").alias("_sf"),
        pl.min_horizontal("period_end", "v_to").alias("_st"),
    ).drop("v_from", "v_to")
    one = pl.col("_sf").dt.month_start() == pl.col("_st").dt.month_start()
    single = seg.filter(one).with_columns(pl.col("_sf").alias("m_from"), pl.col("_st").alias("m_to"))
    multi = seg.filter(~one)
    if multi.height:
        multi = (
            multi.with_columns(
                pl.date_ranges(pl.col("_sf").dt.month_start(), pl.col("_st").dt.month_start(), "1mo").alias(
                    "_m"
                )
            )
            .explode("_m")
            .with_columns(
                pl.max_horizontal("_sf", "_m").alias("m_from"),
                pl.min_horizontal("_st", pl.col("_m").dt.month_end()).alias("m_to"),
            )
            .drop("_m")
        )
        seg = pl.concat([single, multi], how="vertical")
    else:
        seg = single
    seg = seg.drop("_sf", "_st").with_columns(
        _days(pl.col("period_start"), pl.col("period_end")).alias("_D") + 1,
        _days(pl.col("period_start"), pl.col("m_from")).alias("_c0"),
        (_days(pl.col("period_start"), pl.col("m_to")) + 1).alias("_c1"),
        pl.col("m_from").dt.month_start().alias("_month"),
        pl.col("m_from").dt.month_end().dt.day().cast(pl.Int64).alias("_mdays"),
    )
    return seg, errors


# --- params as columns -------------------------------------------------------------------------


def _param_frame(versions: list[CompiledVersion], kind: str) -> pl.DataFrame:
    rows: dict[str, list[Any]] = {"version_id": [v.id for v in versions]}
    if kind in ("res_tiered", "res_tou"):
        rows["_annual"] = [v.tier_basis == "annual" for v in versions]
        for t in range(MAX_TIERS - 1):
            rows[f"_b{t + 1}"] = [v.tier_upper_wh[t] if t < len(v.tier_upper_wh) else BIG for v in versions]
        for t in range(MAX_TIERS):
            if kind == "res_tiered":
                rows[f"_p{t + 1}"] = [v.prices[t] if t < len(v.prices) else None for v in versions]
            else:
                rows[f"_pp{t + 1}"] = [v.peak_prices[t] if t < len(v.peak_prices) else None for v in versions]
                rows[f"_vp{t + 1}"] = [
                    v.valley_prices[t] if t < len(v.valley_prices) else None for v in versions
                ]
    else:
        rows["price_group"] = [v.price_group for v in versions]
        for name in ("peak", "flat", "valley"):
            rows[f"_{name}_n"] = [v.ratios[name][0] for v in versions]
            rows[f"_{name}_d"] = [v.ratios[name][1] for v in versions]
        rows["_has_sharp"] = [v.sharp_over_peak is not None for v in versions]
        rows["_sharp_n"] = [(v.sharp_over_peak or (1, 1))[0] for v in versions]
        rows["_sharp_d"] = [(v.sharp_over_peak or (1, 1))[1] for v in versions]
        rows["_has_deep"] = [v.deep_valley_over_valley is not None for v in versions]
        rows["_deep_n"] = [(v.deep_valley_over_valley or (1, 1))[0] for v in versions]
        rows["_deep_d"] = [(v.deep_valley_over_valley or (1, 1))[1] for v in versions]
        rows["pf_standard"] = [v.pf_standard for v in versions]
        rows["_cap_price"] = [v.capacity_price for v in versions]
        rows["_dem_price"] = [v.demand_price for v in versions]
    schema: dict[str, Any] = {
        k: (pl.Boolean if k.startswith("_has") or k == "_annual" else pl.Int64) for k in rows
    }
    schema["price_group"] = pl.String
    schema["pf_standard"] = pl.String
    return pl.DataFrame(rows, schema={k: schema[k] for k in rows})


def _line(
    frame: pl.DataFrame,
    kind: str,
    item: str,
    rank: int,
    wh: pl.Expr,
    price: pl.Expr,
) -> pl.DataFrame:
    return frame.select(
        "_r",
        "account_id",
        "version_id",
        "m_from",
        "m_to",
        "_multi",
        pl.lit(kind).alias("kind"),
        pl.lit(item).alias("item"),
        pl.lit(KIND_RANK[kind] * 100 + rank, dtype=pl.Int32).alias("_ord"),
        wh.cast(pl.Int64).alias("wh"),
        price.cast(pl.Int64).alias("unit_price_micro"),
    ).filter(pl.col("wh") != 0)


# --- residential -------------------------------------------------------------------------------


def _residential(
    seg: pl.DataFrame, catalogue: Catalogue, kind: str
) -> tuple[list[pl.DataFrame], pl.DataFrame]:
    versions = [v for v in catalogue.compiled.values() if v.kind == kind]
    seg = seg.join(_param_frame(versions, kind), on="version_id", how="left")
    if kind == "res_tou":
        missing = seg.filter(pl.col("peak_wh").is_null() | pl.col("valley_wh").is_null())
        seg = seg.filter(pl.col("peak_wh").is_not_null() & pl.col("valley_wh").is_not_null())
        seg = seg.with_columns((pl.col("peak_wh") + pl.col("valley_wh")).alias("_W"))
        reason = "residential TOU tariff needs the peak and valley registers"
    else:
        missing = seg.filter(pl.col("total_wh").is_null())
        seg = seg.filter(pl.col("total_wh").is_not_null()).with_columns(pl.col("total_wh").alias("_W"))
        reason = "no total register (total_wh is null)"
    err = missing.select("_r", "account_id", pl.lit(reason).alias("reason")).unique("_r")
    bad_neg = seg.filter(pl.col("_W") < 0)
    if bad_neg.height:
        err = pl.concat(
            [err, bad_neg.select("_r", "account_id", pl.lit("negative consumption").alias("reason"))]
        )
        seg = seg.filter(pl.col("_W") >= 0)
    month_start = pl.col("_month")
    year_start = pl.date(pl.col("m_from").dt.year(), 1, 1)
    wstart = pl.when(pl.col("_annual")).then(year_start).otherwise(month_start)
    wstart = pl.max_horizontal(pl.col("period_start"), wstart)
    window_days = (
        _days(
            pl.max_horizontal(pl.col("period_start"), month_start),
            pl.min_horizontal(pl.col("period_end"), pl.col("m_from").dt.month_end()),
        )
        + 1
    )
    ytd = (
        pl.when(pl.col("_annual") & (pl.col("m_from").dt.year() == pl.col("period_start").dt.year()))
        .then(pl.col("ytd_wh_before").fill_null(0))
        .otherwise(0)
    )
    seg = seg.with_columns(
        _apportion("_W").alias("_w"),
        (
            ytd
            + (pl.col("_W") * pl.col("_c0")) // pl.col("_D")
            - (pl.col("_W") * _days(pl.col("period_start"), wstart)) // pl.col("_D")
        ).alias("_pos"),
        window_days.alias("_wdays"),
    )
    # tier bounds: annual as published; monthly pro-rated by the period's days in the month
    bounds = []
    for t in range(1, MAX_TIERS):
        b = pl.col(f"_b{t}")
        scaled = (
            pl.when(b >= BIG)
            .then(b)
            .otherwise(expr_div_half_up_nonneg(b * pl.col("_wdays"), pl.col("_mdays")))
        )
        bounds.append(pl.when(pl.col("_annual")).then(b).otherwise(scaled).alias(f"_B{t}"))
    seg = seg.with_columns(bounds)
    lo, hi = pl.col("_pos"), pl.col("_pos") + pl.col("_w")
    qs = []
    for t in range(1, MAX_TIERS + 1):
        lower = pl.col(f"_B{t - 1}") if t > 1 else pl.lit(0, dtype=pl.Int64)
        upper = pl.col(f"_B{t}") if t < MAX_TIERS else pl.lit(BIG, dtype=pl.Int64)
        q = pl.min_horizontal(hi, upper) - pl.max_horizontal(lo, lower)
        qs.append(pl.when(q > 0).then(q).otherwise(0).alias(f"_q{t}"))
    seg = seg.with_columns(qs)
    n_tiers = max((len(v.tier_upper_wh) + 1 for v in versions), default=1)
    lines: list[pl.DataFrame] = []
    if kind == "res_tiered":
        for t in range(1, n_tiers + 1):
            lines.append(_line(seg, "energy", f"energy_tier{t}", t, pl.col(f"_q{t}"), pl.col(f"_p{t}")))
    else:
        seg = seg.with_columns(_apportion("peak_wh").alias("_pk"))
        cum = pl.lit(0, dtype=pl.Int64)
        prev_peak = pl.lit(0, dtype=pl.Int64)
        cols = []
        for t in range(1, n_tiers + 1):
            cum = cum + pl.col(f"_q{t}")
            peak_cum = pl.when(pl.col("_w") > 0).then(pl.col("_pk") * cum // pl.col("_w")).otherwise(0)
            cols.append((peak_cum - prev_peak).alias(f"_qp{t}"))
            prev_peak = peak_cum
        seg = seg.with_columns(cols)
        for t in range(1, n_tiers + 1):
            lines.append(
                _line(seg, "energy", f"energy_tier{t}_peak", 2 * t, pl.col(f"_qp{t}"), pl.col(f"_pp{t}"))
            )
            lines.append(
                _line(
                    seg,
                    "energy",
                    f"energy_tier{t}_valley",
                    2 * t + 1,
                    pl.col(f"_q{t}") - pl.col(f"_qp{t}"),
                    pl.col(f"_vp{t}"),
                )
            )
    # government funds inside the price: INFO lines, one per fund
    names: list[str] = []
    for v in versions:
        for name, _ in v.included_funds:
            if name not in names:
                names.append(name)
    for i, name in enumerate(names):
        price_map = {v.id: dict(v.included_funds).get(name) for v in versions}
        price = pl.col("version_id").replace_strict(
            list(price_map), list(price_map.values()), default=None, return_dtype=pl.Int64
        )
        lines.append(
            _line(seg, "info", f"fund_{name}", i, pl.col("_w"), price).filter(
                pl.col("unit_price_micro").is_not_null()
            )
        )
    return lines, err


# --- agency-purchase I&C (single-part TOU and two-part) ---------------------------------------


def _ratio_price(purchase: pl.Expr, num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return expr_div_half_up_nonneg(purchase * num, den)


def _agency(
    seg: pl.DataFrame, catalogue: Catalogue, kind: str
) -> tuple[list[pl.DataFrame], pl.DataFrame, pl.DataFrame | None, pl.DataFrame]:
    versions = [v for v in catalogue.compiled.values() if v.kind == kind]
    seg = seg.join(_param_frame(versions, kind), on="version_id", how="left")
    seg = seg.join(
        catalogue.agency_frame,
        left_on=["_month", "price_group"],
        right_on=["month", "price_group"],
        how="left",
    )
    errs = [
        seg.filter(pl.col("purchase").is_null()).select(
            "_r",
            "account_id",
            (
                pl.lit("no agency purchase price for ")
                + pl.col("price_group")
                + pl.lit(" in ")
                + pl.col("_month").dt.to_string("%Y-%m")
            ).alias("reason"),
        )
    ]
    has_tou = pl.any_horizontal([pl.col(f"{r}_wh").is_not_null() for r in REGISTERS])
    seg = seg.with_columns(has_tou.alias("_tou"))
    errs.append(
        seg.filter(~pl.col("_tou") & pl.col("total_wh").is_null()).select(
            "_r", "account_id", pl.lit("no registers (total and TOU registers all null)").alias("reason")
        )
    )
    # a meter with only a total register: rated at the flat price (documented choice)
    seg = seg.with_columns(
        [
            pl.when(pl.col("_tou")).then(pl.col(f"{r}_wh").fill_null(0)).otherwise(0).alias(f"{r}_wh")
            for r in REGISTERS
            if r != "flat"
        ]
        + [
            pl.when(pl.col("_tou"))
            .then(pl.col("flat_wh").fill_null(0))
            .otherwise(pl.col("total_wh"))
            .alias("flat_wh")
        ]
    )
    seg = seg.with_columns(pl.sum_horizontal([pl.col(f"{r}_wh") for r in REGISTERS]).alias("_W"))
    errs.append(
        seg.filter(pl.min_horizontal([pl.col(f"{r}_wh") for r in REGISTERS]) < 0).select(
            "_r", "account_id", pl.lit("negative consumption").alias("reason")
        )
    )
    if kind == "two_part":
        by = pl.col("basic_charge_by")
        errs.append(
            seg.filter(
                by.is_null()
                | ~by.is_in(["capacity", "demand"])
                | ((by == "capacity") & pl.col("capacity_va").is_null())
                | ((by == "demand") & pl.col("max_demand_w").is_null())
            ).select(
                "_r",
                "account_id",
                pl.when(by.is_null() | ~by.is_in(["capacity", "demand"]))
                .then(pl.lit("two-part tariff needs basic_charge_by (capacity or demand)"))
                .when(by == "capacity")
                .then(pl.lit("basic charge by capacity needs capacity_va"))
                .otherwise(pl.lit("basic charge by demand needs max_demand_w"))
                .alias("reason"),
            )
        )
    err = pl.concat(errs, how="vertical").unique("_r", keep="first")
    seg = seg.join(err.select("_r"), on="_r", how="anti")
    seg = seg.with_columns(
        [_apportion(f"{r}_wh").alias(f"_s_{r}") for r in REGISTERS] + [_apportion("_W").alias("_w")]
    )
    # no sharp / deep valley price (below 1 kV): those registers count as peak / valley
    seg = seg.with_columns(
        pl.when(pl.col("_has_sharp"))
        .then(pl.col("_s_peak"))
        .otherwise(pl.col("_s_peak") + pl.col("_s_sharp")),
        pl.when(pl.col("_has_sharp")).then(pl.col("_s_sharp")).otherwise(0),
        pl.when(pl.col("_has_deep"))
        .then(pl.col("_s_valley"))
        .otherwise(pl.col("_s_valley") + pl.col("_s_deep_valley")),
        pl.when(pl.col("_has_deep")).then(pl.col("_s_deep_valley")).otherwise(0),
    )
    purchase = pl.col("purchase")
    prices = {
        "flat": _ratio_price(purchase, pl.col("_flat_n"), pl.col("_flat_d")),
        "peak": _ratio_price(purchase, pl.col("_peak_n"), pl.col("_peak_d")),
        "valley": _ratio_price(purchase, pl.col("_valley_n"), pl.col("_valley_d")),
        "sharp": _ratio_price(
            purchase, pl.col("_peak_n") * pl.col("_sharp_n"), pl.col("_peak_d") * pl.col("_sharp_d")
        ),
        "deep_valley": _ratio_price(
            purchase, pl.col("_valley_n") * pl.col("_deep_n"), pl.col("_valley_d") * pl.col("_deep_d")
        ),
    }
    lines: list[pl.DataFrame] = []
    if kind == "two_part":
        service_start = (
            pl.when(pl.col("service_days").is_not_null())
            .then(pl.col("period_end") - pl.duration(days=pl.col("service_days").clip(0, None) - 1))
            .otherwise(pl.col("period_start"))
        )
        basic_start = pl.max_horizontal(pl.col("m_from"), service_start)
        bdays = (_days(basic_start, pl.col("m_to")) + 1).clip(0, None)
        by_cap = pl.col("basic_charge_by") == "capacity"
        qty = pl.when(by_cap).then(pl.col("capacity_va")).otherwise(pl.col("max_demand_w"))
        price = pl.when(by_cap).then(pl.col("_cap_price")).otherwise(pl.col("_dem_price"))
        basic = seg.select(
            "_r",
            "account_id",
            "version_id",
            "m_from",
            "m_to",
            pl.lit("basic").alias("kind"),
            pl.when(by_cap).then(pl.lit("basic_capacity")).otherwise(pl.lit("basic_demand")).alias("item"),
            pl.lit(KIND_RANK["basic"] * 100, dtype=pl.Int32).alias("_ord"),
            pl.lit(None, dtype=pl.Int64).alias("wh"),
            price.alias("unit_price_micro"),
            qty.alias("qty"),
            bdays.alias("days"),
            pl.col("_mdays").alias("month_days"),
        ).with_columns(
            expr_div_half_up_nonneg(
                pl.col("qty") * pl.col("unit_price_micro") * pl.col("days"),
                pl.col("month_days") * WH_MICRO_PER_FEN,
            ).alias("amount_fen")
        )
        basic = basic.filter(pl.col("days") > 0)
    else:
        basic = None
    for i, reg in enumerate(REGISTERS):
        lines.append(_line(seg, "energy", f"energy_{reg}", i, pl.col(f"_s_{reg}"), prices[reg]))
    for i, (item, col) in enumerate(PASS_PARTS):
        lines.append(_line(seg, "pass", item, i, pl.col("_w"), pl.col(col)))
    lines.append(_line(seg, "fund", "fund", 0, pl.col("_w"), pl.col("fund")))
    pf_rows = (
        seg.filter(pl.col("pf_standard").is_not_null())
        .group_by("_r", "version_id")
        .agg(
            pl.col("account_id").first(),
            pl.col("pf_standard").first(),
            pl.col("_W").first(),
            pl.col("reactive_varh").first(),
            pl.col("m_from").min(),
            pl.col("m_to").max(),
        )
    )
    return lines, err.select("_r", "account_id", "reason"), basic, pf_rows


# --- power factor ------------------------------------------------------------------------------


def power_factor_centi(active: int, reactive: int) -> int:
    """Exact pf × 100 = round_half_up(100·A/√(A²+R²)) on Python ints (A > 0, R ≥ 0)."""
    if active <= 0:
        raise ValueError("active energy must be positive")
    reactive = abs(reactive)
    total = active * active + reactive * reactive
    # the largest k with pf ≥ (2k − 1)/200  ⇔  40000·A² ≥ (2k − 1)²·(A² + R²)
    k = 0
    lo, hi = 0, 100
    while lo <= hi:
        mid = (lo + hi) // 2
        if mid == 0 or 40000 * active * active >= (2 * mid - 1) ** 2 * total:
            k, lo = mid, mid + 1
        else:
            hi = mid - 1
    return k


def _pf_centi_column(active: pl.Series, reactive: pl.Series) -> pl.Series:
    """Vectorised pf × 100: float candidate, exact integer check near a rounding boundary."""
    a = active.cast(pl.Float64).to_numpy()
    r = reactive.abs().cast(pl.Float64).to_numpy()
    import numpy as np

    x = 100.0 * a / np.hypot(a, r)
    k = np.floor(x + 0.5).astype(np.int64)
    frac = x + 0.5 - np.floor(x + 0.5)
    near = np.nonzero((frac < 1e-6) | (frac > 1 - 1e-6))[0]
    if near.size:
        a_int = active.to_list()
        r_int = reactive.to_list()
        for i in near.tolist():
            k[i] = power_factor_centi(int(a_int[i]), int(r_int[i]))
    return pl.Series("pf_centi", k, dtype=pl.Int64)


def _pf_lines(pf_rows: pl.DataFrame, priced: pl.DataFrame, catalogue: Catalogue) -> pl.DataFrame:
    rows = pf_rows.filter(pl.col("reactive_varh").is_not_null() & (pl.col("_W") > 0))
    if rows.height == 0:
        return _empty({})
    rows = rows.with_columns(_pf_centi_column(rows["_W"], rows["reactive_varh"]))
    rows = rows.join(catalogue.pf_frame, on=["pf_standard", "pf_centi"], how="left")
    base = (
        priced.filter(pl.col("kind").is_in(["basic", "energy", "pass"]))
        .group_by("_r", "version_id")
        .agg(pl.col("amount_fen").sum().alias("_base"))
    )
    rows = rows.join(base, on=["_r", "version_id"], how="left")
    return rows.select(
        "_r",
        "account_id",
        "version_id",
        "m_from",
        "m_to",
        pl.lit("pf").alias("kind"),
        pl.lit("pf_adjustment").alias("item"),
        pl.lit(KIND_RANK["pf"] * 100, dtype=pl.Int32).alias("_ord"),
        pl.lit(None, dtype=pl.Int64).alias("wh"),
        pl.lit(None, dtype=pl.Int64).alias("unit_price_micro"),
        expr_div_half_up(
            pl.col("_base").fill_null(0) * pl.col("pf_percent_centi").fill_null(0), 10_000
        ).alias("amount_fen"),
        "pf_centi",
        "pf_percent_centi",
    )


# --- merging and ordering ----------------------------------------------------------------------


def _price_lines(raw: list[pl.DataFrame]) -> pl.DataFrame:
    """Merge per-segment quantity lines of the same item, price and version; price them."""
    frame = pl.concat(raw, how="vertical")
    single = frame.filter(~pl.col("_multi")).rename({"m_from": "line_from", "m_to": "line_to"})
    multi = frame.filter(pl.col("_multi"))
    if multi.height:
        merged = multi.group_by(
            "_r", "account_id", "version_id", "kind", "item", "_ord", "unit_price_micro", maintain_order=True
        ).agg(
            pl.col("m_from").min().alias("line_from"),
            pl.col("m_to").max().alias("line_to"),
            pl.col("wh").sum(),
        )
        frame = pl.concat(
            [single.drop("_multi"), merged.select(single.drop("_multi").columns)], how="vertical"
        )
    else:
        frame = single.drop("_multi")
    return frame.with_columns(
        expr_div_half_up_nonneg(pl.col("wh") * pl.col("unit_price_micro"), WH_MICRO_PER_FEN).alias(
            "amount_fen"
        )
    )


def _pad(frame: pl.DataFrame) -> pl.DataFrame:
    """Give a line frame every column of the output (nulls where it has none)."""
    want: dict[str, Any] = {
        "_r": pl.Int64,
        "account_id": pl.Int64,
        "version_id": pl.Int64,
        "kind": pl.String,
        "item": pl.String,
        "_ord": pl.Int32,
        "wh": pl.Int64,
        "unit_price_micro": pl.Int64,
        "amount_fen": pl.Int64,
        "line_from": pl.Date,
        "line_to": pl.Date,
        "qty": pl.Int64,
        "days": pl.Int64,
        "month_days": pl.Int64,
        "pf_centi": pl.Int64,
        "pf_percent_centi": pl.Int64,
    }
    if "m_from" in frame.columns:
        frame = frame.rename({"m_from": "line_from", "m_to": "line_to"})
    return frame.select(
        [pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c) for c, t in want.items()]
    )


# --- entry point -------------------------------------------------------------------------------


def rate(periods: pl.DataFrame, catalogue: Catalogue) -> Rating:
    """Rate every period of ``periods`` (see :mod:`gridcare.billing.engine` for the contract)."""
    p = _normalise(periods)
    seg, errors = _segments(p, catalogue)
    # more than one segment in a period → its lines are merged over segments
    seg = seg.with_columns(
        (pl.col("_c0") > 0).any().over("_r").alias("_multi") if seg.height else pl.lit(False).alias("_multi")
    )
    raw: list[pl.DataFrame] = []
    basics: list[pl.DataFrame] = []
    pf_inputs: list[pl.DataFrame] = []
    billed_wh: list[pl.DataFrame] = []
    for kind in ("res_tiered", "res_tou", "gic_tou", "two_part"):
        part = seg.filter(pl.col("kind") == kind)
        if part.height == 0:
            continue
        if kind in ("res_tiered", "res_tou"):
            lines, err = _residential(part, catalogue, kind)
            if kind == "res_tou":
                wh = part.select("_r", (pl.col("peak_wh") + pl.col("valley_wh")).alias("wh"))
            else:
                wh = part.select("_r", pl.col("total_wh").alias("wh"))
        else:
            lines, err, basic, pf_rows = _agency(part, catalogue, kind)
            if basic is not None:
                basics.append(basic)
            pf_inputs.append(pf_rows)
            regs = [pl.col(f"{r}_wh") for r in REGISTERS]
            wh = part.select(
                "_r",
                pl.when(pl.any_horizontal([c.is_not_null() for c in regs]))
                .then(pl.sum_horizontal(regs))
                .otherwise(pl.col("total_wh"))
                .alias("wh"),
            )
        raw.extend(lines)
        billed_wh.append(wh.unique("_r"))
        if err.height:
            errors.append(err.select("_r", "account_id", "reason"))
    err_frame = (
        pl.concat([e.select("_r", "account_id", "reason") for e in errors], how="vertical").unique(
            "_r", keep="first"
        )
        if errors
        else pl.DataFrame(schema={"_r": pl.Int64, "account_id": pl.Int64, "reason": pl.String})
    )
    priced = [_pad(_price_lines(raw))] if raw else []
    priced += [_pad(b) for b in basics]
    all_lines = pl.concat(priced, how="vertical") if priced else _pad(_empty({}))
    pf_in = [f for f in pf_inputs if f.height]
    if pf_in:
        pf = _pf_lines(pl.concat(pf_in, how="vertical"), all_lines, catalogue)
        if pf.height:
            all_lines = pl.concat([all_lines, _pad(pf)], how="vertical")
    if err_frame.height:
        all_lines = all_lines.join(err_frame.select("_r"), on="_r", how="anti")
    all_lines = all_lines.sort("account_id", "_r", "_ord", "line_from", "version_id")
    idx = pl.int_range(pl.len(), dtype=pl.Int64)
    first = pl.col("account_id") != pl.col("account_id").shift(1)
    all_lines = all_lines.with_columns(
        (idx - pl.when(first.fill_null(True)).then(idx).otherwise(None).forward_fill() + 1)
        .cast(pl.Int32)
        .alias("seq")
    )
    rated = p.join(err_frame.select("_r"), on="_r", how="anti")
    wh_frame = (
        pl.concat(billed_wh, how="vertical")
        if billed_wh
        else pl.DataFrame(schema={"_r": pl.Int64, "wh": pl.Int64})
    )
    sums = (
        all_lines.filter(pl.col("kind") != "info")
        .group_by("_r")
        .agg(pl.col("amount_fen").sum().alias("total_fen"))
    )
    totals = (
        rated.select("_r", "account_id", "period_start", "period_end")
        .join(wh_frame, on="_r", how="left")
        .join(sums, on="_r", how="left")
        .sort("_r")
        .select(
            "account_id",
            pl.col("wh").cast(pl.Int64),
            pl.col("total_fen").fill_null(0).cast(pl.Int64),
            "period_start",
            "period_end",
        )
    )
    lines_out = all_lines.select(
        "account_id",
        "seq",
        "kind",
        "item",
        "wh",
        "unit_price_micro",
        "amount_fen",
        pl.col("version_id").alias("tariff_version_id"),
        "line_from",
        "line_to",
        "qty",
        "days",
        "month_days",
        "pf_centi",
        "pf_percent_centi",
    )
    errors_out = err_frame.sort("_r").select("account_id", "reason")
    return Rating(lines=lines_out, totals=totals, errors=errors_out)


def periods_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Build a PERIOD_SCHEMA frame from dicts (missing keys null; ``ytd_wh_before`` 0)."""
    data = {
        name: [row.get(name, 0 if name == "ytd_wh_before" else None) for row in rows]
        for name in PERIOD_SCHEMA
    }
    return pl.DataFrame(data, schema=PERIOD_SCHEMA)


__all__ = [
    "ERROR_SCHEMA",
    "LINE_SCHEMA",
    "PERIOD_SCHEMA",
    "TOTAL_SCHEMA",
    "Rating",
    "periods_frame",
    "power_factor_centi",
    "rate",
]
