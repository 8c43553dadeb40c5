"""The rating engine: a frame of accounts' period data → bill lines (pure: no Django).

See the contract in :mod:`gridcare.billing.engine` and the operator's view in
docs/billing-tariffs.md. Work is vectorised per (tariff version, calendar month) with
NumPy on integer units (Wh, micro-yuan, fen); the only per-row Python is the exact check
of a power factor that falls within 1e-6 of a rounding boundary.

How a period is rated
---------------------
1. Each period is cut into *segments*: the pieces inside one tariff version and one
   calendar month (a new version, a new month's agency price, a monthly tier window or a
   new year all start a new segment). Most periods are one segment.
2. Every register (and the total) is split over the segments by days: segment i gets
   ``floor(W·c_i/D) − floor(W·c_{i−1}/D)`` Wh, ``c_i`` the days of the period up to the end
   of segment i, ``D`` the period's days — the parts sum exactly to ``W``.
3. Tiers: a segment's position inside its tier window (the calendar year for annual tiers,
   starting from ``ytd_wh_before`` in the period's first year and from 0 after 1 January;
   the calendar month for monthly tiers, whose bounds are pro-rated by the period's days in
   that month ÷ the month's days, half-up to the Wh) decides how its kWh fall into tiers.
   Residential TOU: each tier's kWh are split between peak and valley in proportion to the
   segment's peak and valley registers (cumulative floor, so they sum exactly).
4. Lines of the same item, price and version are merged over a period's segments, then each
   line's amount is ``wh × unit price`` rounded half-up to the fen. Basic-charge lines stay
   one per month piece (each has its own days ÷ month days), and one per contract part of
   a period whose contract changes (``basic_parts``, the same rule for the part's days).
5. Power factor: pf = A/√(A²+R²) rounded half-up to 2 places over the whole period,
   looked up in the table of the period's standard, applied to the basic, energy and
   unfloated-part lines (not the government funds) of each version, single-part and
   two-part alike. The standard is the row's ``pf_standard`` when the frame carries that
   column (a billing run: the account's, :func:`pf_standard_expr`; null: not adjusted),
   else the version's ``pf_standard`` (the quote, which knows no account).

Integer ranges: Wh × micro-yuan must stay below 4.6e18, i.e. a line up to 4.6e12 Wh
(4.6 TWh) at 1 yuan/kWh; a residential TOU period up to 3e9 Wh (3 GWh).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from gridcare.billing.engine.catalogue import PF_STANDARDS, Catalogue, CompiledVersion
from gridcare.billing.engine.rounding import WH_MICRO_PER_FEN, div_half_up

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
#: Optional input column ``basic_parts`` (an addition to the contract): the two-part basic
#: charge of a period over which the contract changes (减容, a new contract from the 16th …).
#: Null on nearly every row: the row's ``basic_charge_by``/``capacity_va``/``max_demand_w``
#: then apply to the whole period. Otherwise each part applies from its ``from`` day to the
#: day before the next part's (the last: to the period end) and gets its own basic-charge
#: lines; the row's own basis columns are not used for the basic charge, and days before
#: the first part's ``from`` pay none.
BASIC_PART: Any = pl.Struct(
    {"from": pl.Date, "basic_charge_by": pl.String, "capacity_va": pl.Int64, "max_demand_w": pl.Int64}
)
BASIC_PARTS: Any = pl.List(BASIC_PART)
#: Optional input column ``pf_standard`` (an addition to the contract): the power-factor
#: standard of each period's account (``"0.90"``/``"0.85"``/``"0.80"``; null: the account is
#: not adjusted), from :func:`pf_standard_expr`. When the frame carries it, it decides for
#: every row and the versions' ``pf_standard`` is not used; without it the version's applies.
PF_STANDARD_COLUMN = "pf_standard"

LINE_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "seq": pl.Int32,
    "kind": pl.String,
    "item": pl.String,
    "wh": pl.Int64,
    "unit_price_micro": pl.Int64,
    "amount_fen": pl.Int64,
    "tariff_version_id": pl.Int64,
    # additions to the contract:
    "row": pl.Int64,  # 0-based index of the period row in the input frame
    "line_from": pl.Date,  # first day the line covers (null: the whole period)
    "line_to": pl.Date,  # last day the line covers (null: the whole period)
    "qty": pl.Int64,  # basic charge: VA (capacity) or W (demand) billed
    "days": pl.Int64,  # basic charge: days billed in the month
    "month_days": pl.Int64,  # basic charge: days of that month
    "pf_centi": pl.Int64,  # pf line: power factor × 100
    "pf_percent_centi": pl.Int64,  # pf line: adjustment percent × 100 (−75 = −0.75 %)
}
TOTAL_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "wh": pl.Int64,
    "total_fen": pl.Int64,
    "row": pl.Int64,
    "period_start": pl.Date,
    "period_end": pl.Date,
}
ERROR_SCHEMA: dict[str, Any] = {"account_id": pl.Int64, "reason": pl.String, "row": pl.Int64}

REGISTERS = ("sharp", "peak", "flat", "valley", "deep_valley")
PASS_PARTS = (
    ("pass_line_loss", "line_loss"),
    ("pass_transmission", "transmission"),
    ("pass_system", "system"),
)
KIND_RANK = {"basic": 0, "energy": 1, "pass": 2, "fund": 3, "pf": 4, "info": 5}
EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Rating:
    """The engine's answer: ``lines``, ``totals`` (one row per rated period) and ``errors``.

    ``lines`` are grouped by partition, not sorted: order by ``row``/``account_id`` and
    ``seq`` to print a bill."""

    lines: pl.DataFrame
    totals: pl.DataFrame
    errors: pl.DataFrame


def periods_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Build a PERIOD_SCHEMA frame from dicts (missing keys null; ``ytd_wh_before`` 0), with
    ``basic_parts`` and ``pf_standard`` when a row has them."""
    schema = dict(PERIOD_SCHEMA)
    if any("basic_parts" in row for row in rows):
        schema["basic_parts"] = BASIC_PARTS
    if any(PF_STANDARD_COLUMN in row for row in rows):
        schema[PF_STANDARD_COLUMN] = pl.String
    data = {name: [row.get(name, 0 if name == "ytd_wh_before" else None) for row in rows] for name in schema}
    return pl.DataFrame(data, schema=schema)


# --- item codes --------------------------------------------------------------------------------


class _Items:
    """Item name ⇄ small integer code for this call (kind and sort rank per item)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.kinds: list[str] = []
        self.ranks: list[int] = []
        self._code: dict[str, int] = {}

    def code(self, item: str, kind: str, rank: int) -> int:
        found = self._code.get(item)
        if found is None:
            found = self._code[item] = len(self.names)
            self.names.append(item)
            self.kinds.append(kind)
            self.ranks.append(KIND_RANK[kind] * 1000 + rank)
        return found


def _half_up_nonneg(num: np.ndarray, den: int | np.ndarray) -> np.ndarray:
    return (num * 2 + den) // (den * 2)


def _half_up(num: np.ndarray, den: int) -> np.ndarray:
    mag = (np.abs(num) * 2 + den) // (den * 2)
    return np.where(num < 0, -mag, mag)


def _ord(day: dt.date) -> int:
    return (day - EPOCH).days


def _month_end(month: dt.date) -> dt.date:
    nxt = dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def _col(frame: pl.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(values with nulls as 0, null mask) of an Int64 column."""
    series = frame[name]
    nulls = series.is_null().to_numpy()
    return series.fill_null(0).to_numpy(), nulls


# --- the accumulator ---------------------------------------------------------------------------


@dataclass
class _Acc:
    n_rows: int
    items: _Items = field(default_factory=_Items)
    single: list[pl.DataFrame] = field(default_factory=list)  # final lines (seq set)
    # periods of several segments: per-segment pieces, merged by _merge_multi
    multi_qty: list[_QtyPiece] = field(default_factory=list)
    multi_basic: list[tuple[int, int, dict[str, np.ndarray]]] = field(default_factory=list)
    multi_pf: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    err_rows: list[np.ndarray] = field(default_factory=list)
    err_reasons: list[str] = field(default_factory=list)
    version_ids: list[int] = field(default_factory=list)
    _vidx: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.total = np.zeros(self.n_rows, dtype=np.int64)
        self.wh = np.zeros(self.n_rows, dtype=np.int64)

    def version_index(self, version_id: int) -> int:
        """A small index for a version id (the merge groups pieces by it)."""
        if version_id not in self._vidx:
            self._vidx[version_id] = len(self.version_ids)
            self.version_ids.append(version_id)
        return self._vidx[version_id]

    def error(self, rows: np.ndarray, reason: str) -> None:
        if rows.size:
            self.err_rows.append(rows.astype(np.int64))
            self.err_reasons.append(reason)


@dataclass
class _Part:
    """One partition: rows of one version and one calendar month."""

    r: np.ndarray
    s: np.ndarray  # period start (days since 1970-01-01)
    e: np.ndarray  # period end
    mf: np.ndarray  # segment first day
    mt: np.ndarray  # segment last day
    multi: bool  # the partition holds periods of more than one segment
    frame: pl.DataFrame
    month: dt.date
    version: CompiledVersion

    @property
    def D(self) -> np.ndarray:  # noqa: N802 - the period's days, as in the docs
        return self.e - self.s + 1

    def apportion(self, w: np.ndarray) -> np.ndarray:
        d = self.D
        return w * (self.mt - self.s + 1) // d - w * (self.mf - self.s) // d

    def take(self, keep: np.ndarray) -> _Part:
        return _Part(
            r=self.r[keep],
            s=self.s[keep],
            e=self.e[keep],
            mf=self.mf[keep],
            mt=self.mt[keep],
            multi=self.multi,
            frame=self.frame.filter(pl.Series(keep)),
            month=self.month,
            version=self.version,
        )


class _Block:
    """Candidate lines of a partition: one Wh column (per row) and one price per item."""

    def __init__(self, part: _Part) -> None:
        self.part = part
        self.codes: list[int] = []
        self.wh: list[np.ndarray] = []
        self.price: list[int] = []
        self.is_info: list[bool] = []
        self.pf_base: list[bool] = []

    def add(self, code: int, wh: np.ndarray, price: int, *, info: bool = False, pf_base: bool = True) -> None:
        self.codes.append(code)
        self.wh.append(wh)
        self.price.append(price)
        self.is_info.append(info)
        self.pf_base.append(pf_base and not info)


CHUNK_SCHEMA: dict[str, Any] = {
    "_r": pl.Int64,
    "seq": pl.Int32,
    "_code": pl.Int32,
    "wh": pl.Int64,
    "unit_price_micro": pl.Int64,
    "amount_fen": pl.Int64,
    "tariff_version_id": pl.Int64,
    "line_from": pl.Int32,
    "line_to": pl.Int32,
    "qty": pl.Int64,
    "days": pl.Int64,
    "month_days": pl.Int64,
    "pf_centi": pl.Int64,
    "pf_percent_centi": pl.Int64,
}


def _uniform(frame: pl.DataFrame, consts: dict[str, Any], items: _Items) -> pl.DataFrame:
    """Give a chunk exactly CHUNK_SCHEMA plus ``kind`` and ``item`` (constants broadcast —
    far cheaper than gathering strings for millions of lines — nulls where absent)."""
    columns = [
        pl.col(name).cast(dtype)
        if name in frame.columns
        else pl.lit(consts.get(name), dtype=dtype).alias(name)
        for name, dtype in CHUNK_SCHEMA.items()
    ]
    if "_code" in consts:
        code = consts["_code"]
        columns += [
            pl.lit(items.kinds[code], dtype=pl.String).alias("kind"),
            pl.lit(items.names[code], dtype=pl.String).alias("item"),
        ]
    else:  # a code per row (basic lines: capacity or demand)
        codes = frame["_code"]
        columns += [
            pl.lit(pl.Series("kind", items.kinds, dtype=pl.String).gather(codes)),
            pl.lit(pl.Series("item", items.names, dtype=pl.String).gather(codes)),
        ]
    return frame.select(columns)


def _chunk(acc: _Acc, keep: np.ndarray | None, arrays: dict[str, np.ndarray], consts: dict[str, int]) -> None:
    """Append final lines: ``arrays`` are per row of the partition, kept where ``keep``."""
    if keep is not None and not keep.all():
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            return
        arrays = {k: a[idx] for k, a in arrays.items()}
    acc.single.append(_uniform(pl.DataFrame(arrays), consts, acc.items))


BASIC_ARRAYS = ("code", "price", "qty", "days", "month_days", "amount")


def _finish_block(
    acc: _Acc, block: _Block, basics: list[dict[str, np.ndarray]], pf: dict[str, Any] | None
) -> None:
    """Price a block; a single-segment partition gets final lines, a multi one goes to the merge.

    ``basics``: basic-charge pieces, in line order. A piece without ``i`` has arrays per row
    of the partition (a line where ``days`` > 0); one with ``i`` (partition rows, each at
    most once) has arrays per listed row and ``line_from``/``line_to`` (a contract's part)."""
    part = block.part
    n = part.r.size
    vid = part.version.id
    if not part.multi:
        count = np.zeros(n, dtype=np.int64)
        total = np.zeros(n, dtype=np.int64)
        base = np.zeros(n, dtype=np.int64)
        for basic in basics:
            arrays = {
                "_code": basic["code"].astype(np.int32),
                "unit_price_micro": basic["price"],
                "amount_fen": basic["amount"],
                "qty": basic["qty"],
                "days": basic["days"],
                "month_days": basic["month_days"],
            }
            if "i" in basic:
                i = basic["i"]
                count[i] += 1
                total[i] += basic["amount"]
                base[i] += basic["amount"]
                arrays |= {
                    "_r": part.r[i],
                    "seq": count[i].astype(np.int32),
                    "line_from": basic["line_from"].astype(np.int32),
                    "line_to": basic["line_to"].astype(np.int32),
                }
                _chunk(acc, None, arrays, {"tariff_version_id": vid})
                continue
            keep = basic["days"] > 0
            count += keep
            amount = np.where(keep, basic["amount"], 0)
            total += amount
            base += amount
            arrays |= {"_r": part.r, "seq": count.astype(np.int32)}
            _chunk(acc, keep, arrays, {"tariff_version_id": vid})
        for wh, price, code, info, in_base in zip(
            block.wh, block.price, block.codes, block.is_info, block.pf_base, strict=True
        ):
            consts = {"_code": code, "unit_price_micro": price, "tariff_version_id": vid}
            if (wh != 0).all():  # every row has the line (tier 1, funds …): no gather
                amount = _half_up_nonneg(wh * price, WH_MICRO_PER_FEN)
                count += 1
                if not info:
                    total += amount
                if in_base:
                    base += amount
                arrays = {"_r": part.r, "seq": count.astype(np.int32), "wh": wh, "amount_fen": amount}
                _chunk(acc, None, arrays, consts)
                continue
            idx = np.flatnonzero(wh)
            if idx.size == 0:
                continue
            w_sub = wh[idx]
            amount = _half_up_nonneg(w_sub * price, WH_MICRO_PER_FEN)
            count[idx] += 1
            if not info:
                total[idx] += amount
            if in_base:
                base[idx] += amount
            arrays = {
                "_r": part.r[idx],
                "seq": count[idx].astype(np.int32),
                "wh": w_sub,
                "amount_fen": amount,
            }
            _chunk(acc, None, arrays, consts)
        if pf is not None:
            has = pf["has"]
            count += has
            pf_amount = np.where(has, _half_up(base * pf["percent"], 10_000), 0)
            total += pf_amount
            _chunk(
                acc,
                has,
                {
                    "_r": part.r,
                    "seq": count.astype(np.int32),
                    "amount_fen": pf_amount,
                    "pf_centi": pf["centi"],
                    "pf_percent_centi": pf["percent"],
                },
                {"_code": pf["code"], "tariff_version_id": vid},
            )
        acc.total[part.r] += total
        return
    # several segments: quantities are merged over the period's segments before pricing
    vidx = acc.version_index(vid)
    month = _ord(part.month)
    for wh, price, code, info, in_base in zip(
        block.wh, block.price, block.codes, block.is_info, block.pf_base, strict=True
    ):
        idx = np.flatnonzero(wh)
        if idx.size:
            acc.multi_qty.append(
                _QtyPiece(
                    code=code,
                    vidx=vidx,
                    price=price,
                    month=month,
                    info=info,
                    in_base=in_base,
                    r=part.r[idx],
                    wh=wh[idx],
                    mf=part.mf[idx],
                    mt=part.mt[idx],
                )
            )
    for basic in basics:
        if "i" in basic:
            arrays = {name: basic[name] for name in BASIC_ARRAYS}
            arrays.update(r=part.r[basic["i"]], mf=basic["line_from"], mt=basic["line_to"])
        else:
            keep = basic["days"] > 0
            arrays = {name: basic[name][keep] for name in BASIC_ARRAYS}
            arrays.update(r=part.r[keep], mf=part.mf[keep], mt=part.mt[keep])
        acc.multi_basic.append((month, vidx, arrays))
    if pf is not None:
        acc.multi_pf.append(
            (
                vidx,
                {
                    "code": pf["code"],
                    "r": part.r,
                    "has": pf["has"],
                    "centi": pf["centi"],
                    "percent": pf["percent"],
                    "mf": part.mf,
                    "mt": part.mt,
                },
            )
        )


@dataclass
class _QtyPiece:
    """Quantity lines of one item, version and price from one (version, month) partition."""

    code: int
    vidx: int
    price: int
    month: int
    info: bool
    in_base: bool
    r: np.ndarray
    wh: np.ndarray
    mf: np.ndarray
    mt: np.ndarray


# --- residential -------------------------------------------------------------------------------


def _residential(acc: _Acc, part: _Part) -> None:
    v = part.version
    f = part.frame
    if v.kind == "res_tou":
        peak, peak_null = _col(f, "peak_wh")
        valley, valley_null = _col(f, "valley_wh")
        bad = peak_null | valley_null
        acc.error(part.r[bad], "residential TOU tariff needs the peak and valley registers")
        W = peak + valley
    else:
        W, bad = _col(f, "total_wh")
        acc.error(part.r[bad], "no total register (total_wh is null)")
        peak = np.zeros_like(W)
        valley = np.zeros_like(W)
    neg = ~bad & ((W < 0) | (peak < 0) | (valley < 0))
    acc.error(part.r[neg], "negative consumption")
    ok = ~(bad | neg)
    if not ok.all():
        part, W, peak = part.take(ok), W[ok], peak[ok]
        f = part.frame
    if part.r.size == 0:
        return
    acc.wh[part.r] = W
    ytd_before, _ = _col(f, "ytd_wh_before")
    month_first = _ord(part.month)
    month_last = _ord(_month_end(part.month))
    month_days = month_last - month_first + 1
    s, e, D = part.s, part.e, part.D
    if v.tier_basis == "annual":
        year_first = _ord(dt.date(part.month.year, 1, 1))
        window_start = np.maximum(s, year_first)
        ytd = np.where(s >= year_first, ytd_before, 0)
        bounds = [np.full(s.size, b, dtype=np.int64) for b in v.tier_upper_wh]
    else:
        window_start = np.maximum(s, month_first)
        ytd = np.zeros_like(s)
        window_days = np.minimum(e, month_last) - window_start + 1
        bounds = [_half_up_nonneg(b * window_days, month_days) for b in v.tier_upper_wh]
    w = part.apportion(W)
    pos = ytd + W * (part.mf - s) // D - W * (window_start - s) // D
    lo, hi = pos, pos + w
    edges = [np.zeros_like(s), *bounds]
    qs = []
    for t in range(len(edges)):
        upper = np.minimum(hi, edges[t + 1]) if t + 1 < len(edges) else hi
        qs.append(np.maximum(upper - np.maximum(lo, edges[t]), 0))
    block = _Block(part)
    if v.kind == "res_tiered":
        for t, q in enumerate(qs):
            block.add(acc.items.code(f"energy_tier{t + 1}", "energy", t), q, v.prices[t])
    else:
        pk = part.apportion(peak)
        cum = np.zeros_like(w)
        prev = np.zeros_like(w)
        safe_w = np.where(w > 0, w, 1)
        for t, q in enumerate(qs):
            cum = cum + q
            peak_cum = np.where(w > 0, pk * cum // safe_w, 0)
            qp = peak_cum - prev
            prev = peak_cum
            block.add(acc.items.code(f"energy_tier{t + 1}_peak", "energy", 2 * t), qp, v.peak_prices[t])
            block.add(
                acc.items.code(f"energy_tier{t + 1}_valley", "energy", 2 * t + 1), q - qp, v.valley_prices[t]
            )
    for i, (name, price) in enumerate(v.included_funds):
        block.add(acc.items.code(f"fund_{name}", "info", i), w, price, info=True)
    _finish_block(acc, block, [], None)


# --- agency purchase (general I&C TOU and two-part) --------------------------------------------


def _agency(acc: _Acc, part: _Part, catalogue: Catalogue, pf_arrays: dict[str, np.ndarray]) -> None:
    v = part.version
    f = part.frame
    price_row = catalogue.agency_lookup.get((part.month, v.price_group or ""))
    if price_row is None:
        acc.error(part.r, f"no agency purchase price for {v.price_group} in {part.month:%Y-%m}")
        return
    regs: dict[str, np.ndarray] = {}
    nulls: dict[str, np.ndarray] = {}
    for reg in REGISTERS:
        regs[reg], nulls[reg] = _col(f, f"{reg}_wh")
    total, total_null = _col(f, "total_wh")
    has_tou = ~np.logical_and.reduce([nulls[r] for r in REGISTERS])
    # a meter with only a total register is rated at the flat price (documented choice)
    regs["flat"] = np.where(has_tou, regs["flat"], total)
    bad = ~has_tou & total_null
    acc.error(part.r[bad], "no registers (total and TOU registers all null)")
    neg = ~bad & np.logical_or.reduce([regs[r] < 0 for r in REGISTERS])
    acc.error(part.r[neg], "negative consumption")
    bad = bad | neg
    basic_price = None
    split: dict[str, np.ndarray] | None = None  # the parts of rows with basic_parts
    if v.kind == "two_part":
        by = f["basic_charge_by"]
        by_cap = (by == "capacity").fill_null(False).to_numpy()
        by_dem = (by == "demand").fill_null(False).to_numpy()
        cap, cap_null = _col(f, "capacity_va")
        dem, dem_null = _col(f, "max_demand_w")
        has_parts = np.zeros(by_cap.size, dtype=bool)
        split_errors: dict[str, np.ndarray] = {}
        if "basic_parts" in f.columns and f["basic_parts"].null_count() < f.height:
            has_parts = f["basic_parts"].list.len().fill_null(0).to_numpy() > 0
            split, split_errors = _basic_parts(f, has_parts)
            split_errors = {reason: split["i"][flags] for reason, flags in split_errors.items()}
        # a row with basic_parts: its parts are checked, not its own basis columns
        rows = ~bad & ~has_parts
        no_by = rows & ~by_cap & ~by_dem
        acc.error(part.r[no_by], "two-part tariff needs basic_charge_by (capacity or demand)")
        no_cap = rows & by_cap & cap_null
        acc.error(part.r[no_cap], "basic charge by capacity needs capacity_va")
        no_dem = rows & by_dem & dem_null
        acc.error(part.r[no_dem], "basic charge by demand needs max_demand_w")
        neg_q = rows & ((by_cap & (cap < 0)) | (by_dem & (dem < 0)))
        acc.error(part.r[neg_q], "negative capacity or demand")
        bad = bad | no_by | no_cap | no_dem | neg_q
        for reason, failed_rows in split_errors.items():  # a row fails with any of its parts
            failed = np.zeros_like(bad)
            failed[failed_rows] = True
            acc.error(part.r[failed & ~bad], reason)
            bad = bad | failed
        basic_price = (by_cap, cap, dem, has_parts)
    ok = ~bad
    if not ok.all():
        part = part.take(ok)
        f = part.frame
        regs = {k: a[ok] for k, a in regs.items()}
        if basic_price is not None:
            basic_price = tuple(a[ok] for a in basic_price)
        if split is not None:
            kept = ok[split["i"]]
            split = {k: a[kept] for k, a in split.items()}
            split["i"] = (np.cumsum(ok) - 1)[split["i"]]
    if part.r.size == 0:
        return
    W = regs["sharp"] + regs["peak"] + regs["flat"] + regs["valley"] + regs["deep_valley"]
    acc.wh[part.r] = W
    seg = {k: part.apportion(a) for k, a in regs.items()}
    if v.sharp_over_peak is None:
        seg["peak"] = seg["peak"] + seg["sharp"]
        seg["sharp"] = np.zeros_like(seg["peak"])
    if v.deep_valley_over_valley is None:
        seg["valley"] = seg["valley"] + seg["deep_valley"]
        seg["deep_valley"] = np.zeros_like(seg["valley"])
    w = part.apportion(W)
    purchase = price_row["purchase"]
    pn, pd = v.ratios["peak"]
    vn, vd = v.ratios["valley"]
    fn, fd = v.ratios["flat"]
    sn, sd = v.sharp_over_peak or (1, 1)
    dn, dd = v.deep_valley_over_valley or (1, 1)
    prices = {
        "sharp": div_half_up(purchase * pn * sn, pd * sd),
        "peak": div_half_up(purchase * pn, pd),
        "flat": div_half_up(purchase * fn, fd),
        "valley": div_half_up(purchase * vn, vd),
        "deep_valley": div_half_up(purchase * vn * dn, vd * dd),
    }
    block = _Block(part)
    for i, reg in enumerate(REGISTERS):
        block.add(acc.items.code(f"energy_{reg}", "energy", i), seg[reg], prices[reg])
    for i, (item, key) in enumerate(PASS_PARTS):
        block.add(acc.items.code(item, "pass", i), w, price_row[key])
    block.add(acc.items.code("fund", "fund", 0), w, price_row["fund"], pf_base=False)
    basics: list[dict[str, np.ndarray]] = []
    if basic_price is not None:
        by_cap, cap, dem, has_parts = basic_price
        sd_vals, sd_null = _col(f, "service_days")
        D = part.D
        # service_days: the account was in service for the LAST n days of the period
        off = np.where(sd_null, 0, np.maximum(D - np.clip(sd_vals, 0, None), 0))
        c0 = part.mf - part.s
        c1 = part.mt - part.s + 1
        days = np.maximum(c1 - np.maximum(c0, off), 0)
        month_days = _ord(_month_end(part.month)) - _ord(part.month) + 1
        basics.append(_basic_lines(acc, v, by_cap, cap, dem, np.where(has_parts, 0, days), month_days))
        if split is not None and split["i"].size:
            # each part: its own days of the segment, in service (one rule: days ÷ month days)
            pi = split["i"]
            line_from = np.maximum(part.mf[pi], split["from"])
            line_to = np.minimum(part.mt[pi], split["to"])
            first = np.maximum(line_from, part.s[pi] + off[pi])
            part_days = np.maximum(line_to - first + 1, 0)
            lines = _basic_lines(acc, v, split["by_cap"], split["cap"], split["dem"], part_days, month_days)
            lines |= {"i": pi, "line_from": line_from, "line_to": line_to}
            billed = part_days > 0
            lines = {k: a[billed] for k, a in lines.items()}
            # one piece per rank of the part within its row, so a piece lists a row once
            rank = _rank_in_row(lines["i"])
            for k in range(int(rank.max()) + 1 if rank.size else 0):
                at = rank == k
                basics.append({name: a[at] for name, a in lines.items()})
    _finish_block(acc, block, basics, _pf(acc, part, catalogue, pf_arrays))


def _pf(
    acc: _Acc, part: _Part, catalogue: Catalogue, pf_arrays: dict[str, np.ndarray]
) -> dict[str, Any] | None:
    """The power-factor adjustment of a partition's rows: each row's standard (the input's
    ``pf_standard``, else the version's), its pf × 100 and the table's percent; ``None``
    when no row is adjusted."""
    std = pf_arrays.get("std")
    if std is None:  # no pf_standard column: the version's standard for every row
        v = part.version.pf_standard
        row_std = np.full(part.r.size, PF_STANDARDS.index(v) if v is not None else -1, dtype=np.int64)
    else:
        row_std = std[part.r]
    has = pf_arrays["has"][part.r] & (row_std >= 0)
    if not has.any():
        return None
    centi = pf_arrays["centi"][part.r]
    at_centi = np.clip(centi, 0, 100)
    percent = np.zeros(part.r.size, dtype=np.int64)
    for k, standard in enumerate(PF_STANDARDS):
        at = has & (row_std == k)
        if not at.any():
            continue
        found = catalogue.pf_arrays[standard][at_centi[at]]
        missing = found == PF_MISSING
        if missing.any():
            acc.error(part.r[at][missing], f"power-factor table {standard} has no row for this power factor")
        percent[at] = np.where(missing, 0, found)
    return {"code": acc.items.code("pf_adjustment", "pf", 0), "has": has, "centi": centi, "percent": percent}


def _basic_lines(
    acc: _Acc,
    v: CompiledVersion,
    by_cap: np.ndarray,
    cap: np.ndarray,
    dem: np.ndarray,
    days: np.ndarray,
    month_days: int,
) -> dict[str, np.ndarray]:
    """Basic-charge lines: capacity (VA) or demand (W) × the monthly price × days ÷ days of
    the month, half-up to the fen (``basic_proration: calendar_days``)."""
    qty = np.where(by_cap, cap, dem)
    unit = np.where(by_cap, v.capacity_price or 0, v.demand_price or 0).astype(np.int64)
    code_cap = acc.items.code("basic_capacity", "basic", 0)
    code_dem = acc.items.code("basic_demand", "basic", 1)
    return {
        "code": np.where(by_cap, code_cap, code_dem).astype(np.int64),
        "price": unit,
        "qty": qty,
        "days": days,
        "month_days": np.full(days.size, month_days, dtype=np.int64),
        "amount": _half_up_nonneg(qty * unit * days, month_days * WH_MICRO_PER_FEN),
    }


def _basic_parts(
    f: pl.DataFrame, has_parts: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The ``basic_parts`` of the rows ``has_parts`` (few: a contract changed in the period),
    one entry per part ordered by row and ``from``: ``i`` (the row in ``f``), ``from`` and
    ``to`` (days since 1970-01-01; ``to`` the day before the row's next part, else the
    period end), ``by_cap``, ``cap``, ``dem``; and the errors: reason → flags per part."""
    idx = np.flatnonzero(has_parts)
    parts = (
        pl.DataFrame(
            {
                "_i": idx,
                "_end": f["period_end"].filter(pl.Series(has_parts)),
                "_p": f["basic_parts"].filter(pl.Series(has_parts)),
            }
        )
        .explode("_p")
        .unnest("_p")
        .sort("_i", "from", nulls_last=True)
    )
    i = parts["_i"].to_numpy().astype(np.int64)
    start, start_null = _col(parts.select(pl.col("from").cast(pl.Int32).cast(pl.Int64)), "from")
    end = parts["_end"].cast(pl.Int32).to_numpy().astype(np.int64)
    last = np.ones(i.size, dtype=bool)
    last[:-1] = i[1:] != i[:-1]
    to = end.copy()
    to[:-1] = np.where(last[:-1], end[:-1], start[1:] - 1)
    by = parts["basic_charge_by"]
    by_cap = (by == "capacity").fill_null(False).to_numpy()
    by_dem = (by == "demand").fill_null(False).to_numpy()
    cap, cap_null = _col(parts, "capacity_va")
    dem, dem_null = _col(parts, "max_demand_w")
    errors = {
        "basic_parts: a part needs its from date": start_null,
        "two-part tariff needs basic_charge_by (capacity or demand)": ~by_cap & ~by_dem,
        "basic charge by capacity needs capacity_va": by_cap & cap_null,
        "basic charge by demand needs max_demand_w": by_dem & dem_null,
        "negative capacity or demand": (by_cap & (cap < 0)) | (by_dem & (dem < 0)),
    }
    return {"i": i, "from": start, "to": to, "by_cap": by_cap, "cap": cap, "dem": dem}, errors


def _rank_in_row(i: np.ndarray) -> np.ndarray:
    """0, 1, … along each run of equal values of the sorted ``i``."""
    if i.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, i[1:] != i[:-1]])
    lengths = np.diff(np.r_[starts, i.size])
    return np.arange(i.size) - np.repeat(starts, lengths)


# --- power factor ------------------------------------------------------------------------------

PF_MISSING = np.iinfo(np.int64).min


def power_factor_centi(active: int, reactive: int) -> int:
    """Exact pf × 100 = round_half_up(100·A/√(A²+R²)) on Python ints (A > 0)."""
    if active <= 0:
        raise ValueError("active energy must be positive")
    total = active * active + reactive * reactive
    # the largest k with pf ≥ (2k − 1)/200  ⇔  40000·A² ≥ (2k − 1)²·(A² + R²)
    k, lo, hi = 0, 1, 100
    while lo <= hi:
        mid = (lo + hi) // 2
        if 40000 * active * active >= (2 * mid - 1) ** 2 * total:
            k, lo = mid, mid + 1
        else:
            hi = mid - 1
    return k


def _pf_centi(active: np.ndarray, reactive: np.ndarray) -> np.ndarray:
    """Vectorised pf × 100: a float candidate, checked exactly near a rounding boundary."""
    a = active.astype(np.float64)
    r = np.abs(reactive).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = 100.0 * a / np.hypot(a, r)
    x = np.nan_to_num(x)
    k = np.floor(x + 0.5).astype(np.int64)
    frac = x + 0.5 - np.floor(x + 0.5)
    for i in np.flatnonzero(((frac < 1e-6) | (frac > 1 - 1e-6)) & (active > 0)).tolist():
        k[i] = power_factor_centi(int(active[i]), int(reactive[i]))
    return k


#: 功率因数调整电费办法 ((83)水电财字第215号): who is adjusted, by account class (the values
#: of ``gridcare.customers.choices.CustomerClass``), voltage level and contracted capacity.
PF_INDUSTRIAL_CLASSES = ("large_ind",)  # 大工业
PF_OTHER_CLASSES = ("general_ic", "temporary")  # 一般工商业 (no industrial flag), 临时用电
PF_AGRICULTURAL_CLASSES = ("agri",)  # 农业生产
PF_HIGH_VOLTAGE = ("10kv", "35kv", "110kv")
PF_MIN_VA = 100_000  # 100 kVA and above are adjusted
PF_090_OVER_VA = 160_000  # high-voltage industrial above 160 kVA: standard 0.90


def pf_standard_expr(
    customer_class: str = "customer_class",
    voltage_level: str = "voltage_level",
    capacity_va: str = "capacity_va",
) -> pl.Expr:
    """The power-factor standard of an account (a String expression; null: not adjusted).

    (83)水电财字第215号 by class and contracted capacity, whatever the tariff (a single-part
    一般工商业 account of 100–315 kVA is adjusted like a two-part one):

    * 0.90 — high-voltage (10 kV and above) industrial (大工业) above 160 kVA;
    * 0.85 — other industrial and non-industrial accounts of 100 kVA and above: 大工业 at low
      voltage or up to 160 kVA, 一般工商业 (the archive does not tell a factory from a shop,
      so the 0.90 band is left to 大工业: the standard that never over-charges), 临时用电;
    * 0.80 — agricultural (农业生产) of 100 kVA and above;
    * none — residential, below 100 kVA, or no contracted capacity."""
    cls, volt, cap = pl.col(customer_class), pl.col(voltage_level), pl.col(capacity_va)
    big = cap.is_not_null() & (cap >= PF_MIN_VA)
    return (
        pl.when(big & cls.is_in(PF_INDUSTRIAL_CLASSES) & volt.is_in(PF_HIGH_VOLTAGE) & (cap > PF_090_OVER_VA))
        .then(pl.lit("0.90"))
        .when(big & cls.is_in([*PF_INDUSTRIAL_CLASSES, *PF_OTHER_CLASSES]))
        .then(pl.lit("0.85"))
        .when(big & cls.is_in(PF_AGRICULTURAL_CLASSES))
        .then(pl.lit("0.80"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def pf_standard_for(*, customer_class: str, voltage_level: str, capacity_va: int | None) -> str | None:
    """:func:`pf_standard_expr` for one account."""
    frame = pl.DataFrame(
        {"customer_class": [customer_class], "voltage_level": [voltage_level], "capacity_va": [capacity_va]},
        schema={"customer_class": pl.String, "voltage_level": pl.String, "capacity_va": pl.Int64},
    )
    value: str | None = frame.select(pf_standard_expr()).item()
    return value


def _row_pf(p: pl.DataFrame) -> dict[str, np.ndarray]:
    """pf × 100 per input row (active = the TOU registers, or the total without them) and,
    when the frame carries ``pf_standard``, ``std``: the index of the row's standard in
    ``PF_STANDARDS`` (−1: not adjusted, −2: not a standard)."""
    regs = [p[f"{r}_wh"] for r in REGISTERS]
    any_tou = np.logical_or.reduce([s.is_not_null().to_numpy() for s in regs])
    active = np.where(
        any_tou,
        sum((s.fill_null(0).to_numpy() for s in regs), np.zeros(p.height, dtype=np.int64)),
        p["total_wh"].fill_null(0).to_numpy(),
    )
    reactive, reactive_null = _col(p, "reactive_varh")
    has = ~reactive_null & (active > 0)
    centi = np.zeros(p.height, dtype=np.int64)
    if has.any():
        centi[has] = _pf_centi(active[has], reactive[has])
    out = {"has": has, "centi": centi}
    if PF_STANDARD_COLUMN in p.columns:
        std = pl.col(PF_STANDARD_COLUMN)
        index = std.replace_strict(
            list(PF_STANDARDS), list(range(len(PF_STANDARDS))), default=-2, return_dtype=pl.Int64
        )
        out["std"] = p.select(pl.when(std.is_null()).then(-1).otherwise(index)).to_series().to_numpy()
    return out


# --- segments ----------------------------------------------------------------------------------


def _segments(p: pl.DataFrame, catalogue: Catalogue, acc: _Acc) -> list[tuple[pl.DataFrame, bool]]:
    """Frames of segments (version_id, _key, m_from, m_to) and whether they are multi-segment.

    Single-segment periods (one version, one calendar month: nearly all) keep their rows
    as they are (``m_from``/``m_to`` = the period); the rest are cut by version and month."""
    start, end = pl.col("period_start"), pl.col("period_end")
    versions = sorted(catalogue.versions, key=lambda v: (v.code, v.effective_from))
    codes = sorted({v.code for v in versions})
    code_idx = pl.col("tariff_code").replace_strict(
        codes, list(range(len(codes))), default=-1, return_dtype=pl.Int32
    )

    def in_force(day: pl.Expr) -> pl.Expr:
        expr: Any = pl.lit(-1, dtype=pl.Int64)
        for v in versions:  # later versions are checked last, so they win
            cond = (pl.col("_code") == codes.index(v.code)) & (day >= pl.lit(v.effective_from))
            expr = pl.when(cond).then(pl.lit(v.id, dtype=pl.Int64)).otherwise(expr)
        return expr

    month_index = start.dt.year().cast(pl.Int64) * 12 + start.dt.month().cast(pl.Int64)
    p = p.with_columns(code_idx.alias("_code")).with_columns(
        in_force(start).alias("version_id"), in_force(end).alias("_v_end")
    )
    same_month = (start.dt.year() == end.dt.year()) & (start.dt.month() == end.dt.month())
    status = (
        pl.when(start.is_null() | end.is_null() | (end < start))
        .then(2)
        .when(pl.col("_code") < 0)
        .then(3)
        .when(pl.col("version_id") < 0)
        .then(4)
        .when((pl.col("version_id") == pl.col("_v_end")) & same_month)
        .then(0)
        .otherwise(1)
    )
    p = p.with_columns(status.alias("_status"), (pl.col("version_id") * 100_000 + month_index).alias("_key"))
    counts = dict(p.group_by("_status").len().rows())
    if any(k >= 2 for k in counts):
        bad = p.select("_r", "tariff_code", "_status").filter(pl.col("_status") >= 2)
        for (st, code), group in bad.group_by("_status", "tariff_code"):
            if st == 2:
                reason = "period_end before period_start (or a date missing)"
            elif st == 3:
                reason = f"unknown tariff {code}"
            else:
                reason = f"no version of {code} in force at the period start"
            acc.error(group["_r"].to_numpy(), reason)
    out: list[tuple[pl.DataFrame, bool]] = []
    if counts.get(0):
        fast = p if counts[0] == p.height else p.filter(pl.col("_status") == 0)
        out.append((fast.with_columns(start.alias("m_from"), end.alias("m_to")), False))
    if counts.get(1):
        rest = p.filter(pl.col("_status") == 1)
        vf = catalogue.version_frame.select(
            "tariff_code", pl.col("version_id").alias("_vid"), "v_from", "v_to"
        )
        seg = (
            rest.drop("version_id", "_key")
            .join(vf, on="tariff_code", how="inner")
            .filter((pl.col("v_from") <= end) & (pl.col("v_to") >= start))
            .rename({"_vid": "version_id"})
            .with_columns(
                pl.max_horizontal(start, "v_from").alias("_sf"), pl.min_horizontal(end, "v_to").alias("_st")
            )
            .with_columns(
                pl.date_ranges(pl.col("_sf").dt.month_start(), pl.col("_st").dt.month_start(), "1mo").alias(
                    "_month"
                )
            )
            .explode("_month")
            .with_columns(
                pl.max_horizontal("_sf", "_month").alias("m_from"),
                pl.min_horizontal("_st", pl.col("_month").dt.month_end()).alias("m_to"),
                (
                    pl.col("version_id") * 100_000
                    + pl.col("_month").dt.year().cast(pl.Int64) * 12
                    + pl.col("_month").dt.month().cast(pl.Int64)
                ).alias("_key"),
            )
            .drop("_sf", "_st", "v_from", "v_to", "_month")
        )
        out.append((seg, True))
    return out


# --- merging segments --------------------------------------------------------------------------


def _merge_multi(acc: _Acc) -> list[pl.DataFrame]:
    """Final lines of the periods of several segments, without sorting or hashing.

    Within one partition a period has one segment, so every piece lists each row once;
    pieces of the same item, version and price (the months of a tier, the unfloated parts)
    are summed into dense per-row arrays. Lines are numbered per row in the order basic
    (by month), items by rank and first month, power factor."""
    n = acc.n_rows
    count = np.zeros(n, dtype=np.int64)
    base: dict[int, np.ndarray] = {}
    frames: list[pl.DataFrame] = []

    def emit(
        r: np.ndarray, arrays: dict[str, np.ndarray], consts: dict[str, Any], *, counted: bool
    ) -> np.ndarray:
        count[r] += 1
        frames.append(
            _uniform(
                pl.DataFrame({"_r": r, "seq": count[r].astype(np.int32), **arrays}),
                consts,
                acc.items,
            )
        )
        if counted:
            acc.total[r] += arrays["amount_fen"]
        return r

    for _month, vidx, b in sorted(acc.multi_basic, key=lambda item: item[0]):
        emit(
            b["r"],
            {
                "_code": b["code"].astype(np.int32),
                "unit_price_micro": b["price"],
                "amount_fen": b["amount"],
                "qty": b["qty"],
                "days": b["days"],
                "month_days": b["month_days"],
                "line_from": b["mf"].astype(np.int32),
                "line_to": b["mt"].astype(np.int32),
            },
            {"tariff_version_id": acc.version_ids[vidx]},
            counted=True,
        )
        base.setdefault(vidx, np.zeros(n, dtype=np.int64))[b["r"]] += b["amount"]
    groups: dict[tuple[int, int, int], list[_QtyPiece]] = {}
    for piece in acc.multi_qty:
        groups.setdefault((piece.code, piece.vidx, piece.price), []).append(piece)
    ranks = acc.items.ranks
    ordered = sorted(
        groups.items(),
        key=lambda item: (ranks[item[0][0]], min(p.month for p in item[1]), item[0][1], item[0][2]),
    )
    for (code, vidx, price), pieces in ordered:
        if len(pieces) == 1:
            r, wh, mf, mt = pieces[0].r, pieces[0].wh, pieces[0].mf, pieces[0].mt
        else:
            wh_sum = np.zeros(n, dtype=np.int64)
            first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
            last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
            present = np.zeros(n, dtype=bool)
            for piece in pieces:  # each piece lists a row at most once
                wh_sum[piece.r] += piece.wh
                first[piece.r] = np.minimum(first[piece.r], piece.mf)
                last[piece.r] = np.maximum(last[piece.r], piece.mt)
                present[piece.r] = True
            r = np.flatnonzero(present)
            wh, mf, mt = wh_sum[r], first[r], last[r]
        amount = _half_up_nonneg(wh * price, WH_MICRO_PER_FEN)
        emit(
            r,
            {
                "wh": wh,
                "amount_fen": amount,
                "line_from": mf.astype(np.int32),
                "line_to": mt.astype(np.int32),
            },
            {"_code": code, "unit_price_micro": price, "tariff_version_id": acc.version_ids[vidx]},
            counted=not pieces[0].info,
        )
        if pieces[0].in_base:
            base.setdefault(vidx, np.zeros(n, dtype=np.int64))[r] += amount
    pf_groups: dict[int, list[dict[str, Any]]] = {}
    for vidx, pf in acc.multi_pf:
        pf_groups.setdefault(vidx, []).append(pf)
    for vidx, pf_pieces in sorted(pf_groups.items()):
        has = np.zeros(n, dtype=bool)
        centi = np.zeros(n, dtype=np.int64)
        percent = np.zeros(n, dtype=np.int64)
        first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        for pf in pf_pieces:
            r = pf["r"][pf["has"]]
            has[r] = True
            centi[r] = pf["centi"][pf["has"]]
            percent[r] = pf["percent"][pf["has"]]
            first[r] = np.minimum(first[r], pf["mf"][pf["has"]])
            last[r] = np.maximum(last[r], pf["mt"][pf["has"]])
        r = np.flatnonzero(has)
        if r.size == 0:
            continue
        vbase = base.get(vidx, np.zeros(n, dtype=np.int64))[r]
        emit(
            r,
            {
                "amount_fen": _half_up(vbase * percent[r], 10_000),
                "pf_centi": centi[r],
                "pf_percent_centi": percent[r],
                "line_from": first[r].astype(np.int32),
                "line_to": last[r].astype(np.int32),
            },
            {"_code": pf_pieces[0]["code"], "tariff_version_id": acc.version_ids[vidx]},
            counted=True,
        )
    return frames


# --- entry point -------------------------------------------------------------------------------


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
    if "basic_parts" in periods.columns:  # optional: carried only when given
        cols.append(pl.col("basic_parts").cast(BASIC_PARTS))
    if PF_STANDARD_COLUMN in periods.columns:
        cols.append(pl.col(PF_STANDARD_COLUMN).cast(pl.String))
    return periods.select(cols).with_row_index("_r").with_columns(pl.col("_r").cast(pl.Int64))


NEEDED = {
    "res_tiered": ("total_wh", "ytd_wh_before"),
    "res_tou": ("peak_wh", "valley_wh", "ytd_wh_before"),
    "gic_tou": ("total_wh", *(f"{r}_wh" for r in REGISTERS)),
    "two_part": (
        "total_wh",
        *(f"{r}_wh" for r in REGISTERS),
        "basic_charge_by",
        "capacity_va",
        "max_demand_w",
        "service_days",
    ),
}


def _partitions(
    frame: pl.DataFrame, catalogue: Catalogue, acc: _Acc
) -> list[tuple[CompiledVersion, dt.date, pl.DataFrame]]:
    """Split a segment frame by (version, month), carrying only the columns the kind needs;
    periods in a version whose parameters do not validate become errors."""
    keys = frame["_key"].unique().sort().to_list()
    out = []
    for key in keys:
        if key // 100_000 in catalogue.invalid:
            rows = frame.filter(pl.col("_key") == key)["_r"].to_numpy()
            acc.error(rows, catalogue.invalid[key // 100_000])
            continue
        version = catalogue.compiled[key // 100_000]
        month_index = key % 100_000 - 1
        month = dt.date(month_index // 12, month_index % 12 + 1, 1)
        cols = ["_r", "period_start", "period_end", "m_from", "m_to", *NEEDED[version.kind]]
        if version.kind == "two_part" and "basic_parts" in frame.columns:
            cols.append("basic_parts")
        narrow = frame.select(cols)
        sub = narrow if len(keys) == 1 else narrow.filter(frame["_key"] == key)
        out.append((version, month, sub))
    return out


def rate(periods: pl.DataFrame, catalogue: Catalogue) -> Rating:
    """Rate every period of ``periods`` (see :mod:`gridcare.billing.engine` for the contract)."""
    p = _normalise(periods)
    acc = _Acc(n_rows=p.height)
    pf_arrays = _row_pf(p)
    if "std" in pf_arrays:
        for r in np.flatnonzero(pf_arrays["std"] == -2).tolist():  # rare: a wrong value in the input
            acc.error(np.array([r]), f"{p[PF_STANDARD_COLUMN][r]!r} is not a power-factor standard")
    for frame, is_multi in _segments(p, catalogue, acc):
        if frame.height == 0:
            continue
        for version, month, part_frame in _partitions(frame, catalogue, acc):

            def days(col: str, f: pl.DataFrame = part_frame) -> np.ndarray:
                return f[col].cast(pl.Int32).to_numpy().astype(np.int64)

            part = _Part(
                r=part_frame["_r"].to_numpy(),
                s=days("period_start"),
                e=days("period_end"),
                mf=days("m_from"),
                mt=days("m_to"),
                multi=is_multi,
                frame=part_frame,
                month=month,
                version=version,
            )
            if version.kind in ("res_tiered", "res_tou"):
                _residential(acc, part)
            else:
                _agency(acc, part, catalogue, pf_arrays)
    # errors: the first reason per row
    if acc.err_rows:
        err = pl.DataFrame(
            {
                "_r": np.concatenate(acc.err_rows),
                "reason": np.repeat(np.array(acc.err_reasons, dtype=object), [a.size for a in acc.err_rows]),
            },
            schema={"_r": pl.Int64, "reason": pl.String},
        ).unique("_r", keep="first", maintain_order=True)
    else:
        err = pl.DataFrame(schema={"_r": pl.Int64, "reason": pl.String})
    failed = np.zeros(p.height, dtype=bool)
    failed[err["_r"].to_numpy()] = True

    parts: list[pl.DataFrame] = list(acc.single)
    parts.extend(_merge_multi(acc))
    lines = _assemble(p, acc, parts, failed)
    rated = ~failed
    keep_rows = pl.Series(rated)
    totals = pl.DataFrame(
        {
            "account_id": p["account_id"].filter(keep_rows),
            "wh": acc.wh[rated],
            "total_fen": acc.total[rated],
            "row": p["_r"].filter(keep_rows),
            "period_start": p["period_start"].filter(keep_rows),
            "period_end": p["period_end"].filter(keep_rows),
        },
        schema=TOTAL_SCHEMA,
    )
    err = err.sort("_r")
    errors = pl.DataFrame(
        {"account_id": p["account_id"].gather(err["_r"]), "reason": err["reason"], "row": err["_r"]},
        schema=ERROR_SCHEMA,
    )
    return Rating(lines=lines, totals=totals, errors=errors)


def _assemble(p: pl.DataFrame, acc: _Acc, parts: list[pl.DataFrame], failed: np.ndarray) -> pl.DataFrame:
    """One LINE_SCHEMA frame from the chunks (account ids by gather)."""
    if not parts:
        return pl.DataFrame(schema=LINE_SCHEMA)
    lines = pl.concat(parts, how="vertical", rechunk=False)
    if failed.any():
        lines = lines.filter(pl.Series(~failed[lines["_r"].to_numpy()]))
    return lines.select(
        p["account_id"].gather(lines["_r"]).alias("account_id"),
        pl.col("seq").cast(pl.Int32),
        "kind",
        "item",
        pl.col("wh").cast(pl.Int64),
        pl.col("unit_price_micro").cast(pl.Int64),
        pl.col("amount_fen").cast(pl.Int64),
        pl.col("tariff_version_id").cast(pl.Int64),
        pl.col("_r").alias("row"),
        pl.col("line_from").cast(pl.Int32).cast(pl.Date),  # null: the whole period
        pl.col("line_to").cast(pl.Int32).cast(pl.Date),
        *[pl.col(c).cast(pl.Int64) for c in ("qty", "days", "month_days", "pf_centi", "pf_percent_centi")],
    )


__all__ = [
    "BASIC_PART",
    "BASIC_PARTS",
    "ERROR_SCHEMA",
    "LINE_SCHEMA",
    "PERIOD_SCHEMA",
    "PF_STANDARD_COLUMN",
    "TOTAL_SCHEMA",
    "Rating",
    "periods_frame",
    "pf_standard_expr",
    "pf_standard_for",
    "power_factor_centi",
    "rate",
]
