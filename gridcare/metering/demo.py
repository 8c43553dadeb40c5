"""Demo metering data for the demo county: meters, installations, daily frozen register
readings and 96-point load curves. Pure NumPy/Polars, no ORM: deterministic from the seed.

:func:`plan_metering` draws one installed smart meter per active account of a
:class:`~gridcare.customers.demo.County` (indexes into its lists, as ``customers.demo``
does), the meter exchanges (换表), rollovers and injected anomalies. Then
:meth:`MeteringPlan.chunks` produces, a block of accounts at a time, the readings of those
accounts as a Polars frame of integer thousandths of a register unit, and
:func:`account_curves` / :func:`transformer_curves` the interval curves in integer Wh.
``gridcare.metering.demo_writer`` maps the indexes to database ids and writes it all.

How the consumption looks
-------------------------
Daily use (true energy, integer Wh) = class level × seasonal factor × weekly factor ×
holiday factor × day noise:

- households: rural 3–6 kWh/day, urban 5–10, 合表 20–80, about 5 % nearly vacant homes;
  a summer peak (air conditioning, around 25 July) and a winter peak (heating, around
  10 January; stronger in the villages, 煤改电), a little more at weekends and while the
  migrant workers are home for the Spring Festival;
- 一般工商业: 20 kWh/day and more with the contract capacity, quieter at weekends, a
  dip from three days before to a week after 春节 (2025-01-29, 2026-02-17);
- 大工业: capacity × 24 h × a 25–55 % load factor (thousands of kWh a day), the long
  Spring Festival stop of a factory;
- 农业生产: irrigation in spring (春灌), June and November (冬灌), little else.

Meters: single-phase, class 2, 6 digits for households (15 % with peak/valley
registers: the optional 峰谷 tariff); three-phase class 1 with sharp/peak/flat/valley for 一般工商业 (current
transformers above 50 kVA: multiplier = CT ratio); three-phase 0.5S for 大工业 with
reactive, on 10 kV CT × PT (multiplier = CT ratio × 100, e.g. 50/5 × 10000/100 = 1000).
Readings are in register units: kWh ÷ multiplier. TOU registers sum exactly to the total
(integer arithmetic); sharp (尖峰) only runs in Jan, Jul, Aug and Dec.

Injected for the VEE demo (recorded in :attr:`MeteringPlan.anomalies`): consumption
spikes, stopped meters (flat for the last 10–30 days: still stopped), gaps (1–5
missing days) and two or three single decreasing readings; besides, a few 6-digit
meters roll over from near 999990, and a few meters are exchanged (old meter's final
readings, new meter's initial readings of 0).

Injected for the line-loss demo (台区线损, recorded in :attr:`MeteringPlan.theft`): in a few
public 台区 whose accounts all have readings, 1–2 thieves (窃电) whose meters record only
15–40 % of their use from a day 12–20 days before the end — in their daily readings and
their own curves — while the 台区总表 curve keeps measuring their true use, so the area's
loss rate jumps when their recorded use drops (docs/inspection-lineloss.md).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from gridcare.billing.engine.rating import PF_MIN_VA
from gridcare.customers.demo import (
    AGRI,
    GENERAL_IC,
    LARGE_IND,
    RURAL_RES,
    SHARED_RES,
    URBAN_RES,
    County,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
SLOTS = 96

# Class codes used in the arrays.
CLASSES = (URBAN_RES, RURAL_RES, SHARED_RES, GENERAL_IC, LARGE_IND, AGRI)
_C = {c: i for i, c in enumerate(CLASSES)}
RESIDENTIAL_CODES = (0, 1, 2)

# Register layouts: the registers a meter carries; the first is the total.
TOTAL_ONLY = ("total",)
RES_TOU = ("total", "peak", "valley")
GIC_TOU = ("total", "sharp", "peak", "flat", "valley")
LI_TOU = ("total", "sharp", "peak", "flat", "valley", "reactive")
LAYOUTS = (TOTAL_ONLY, RES_TOU, GIC_TOU, LI_TOU)

# 春节 (Spring Festival) dates: the commercial and industrial dip centres on them.
SPRING_FESTIVAL = {
    2023: dt.date(2023, 1, 22),
    2024: dt.date(2024, 2, 10),
    2025: dt.date(2025, 1, 29),
    2026: dt.date(2026, 2, 17),
    2027: dt.date(2027, 2, 6),
    2028: dt.date(2028, 1, 26),
}

MANUFACTURERS = (
    "宁波三星医疗电气股份有限公司",
    "威胜集团有限公司",
    "江苏林洋能源股份有限公司",
    "深圳市科陆电子科技股份有限公司",
    "杭州海兴电力科技股份有限公司",
    "华立科技股份有限公司",
    "浙江正泰仪器仪表有限责任公司",
    "许继电气股份有限公司",
    "烟台东方威思顿电气有限公司",
    "青岛鼎信通讯股份有限公司",
)

LV_CT_PRIMARIES = (75, 100, 150, 200, 300, 400, 500, 600, 800)  # A, secondary 5 A
HV_CT_PRIMARIES = (15, 20, 30, 40, 50, 75, 100, 150, 200, 300, 400)  # A, 10 kV side
PT_RATIO = 100  # 10000/100 V

# Households on the optional peak/valley tariff (峰谷电价, chosen by the household): their
# meters carry peak and valley registers next to the total.
RESIDENTIAL_TOU_SHARE = 0.15
READINGS_CAP = (
    5_000  # accounts with readings unless "all" is asked for (keeps a 200k-customer seed under 3 min)
)
# Injected theft for the line-loss demo (see _plan_theft and docs/inspection-lineloss.md).
THEFT_AREAS_MIN = 3
THEFT_AREAS_PER = 40
THEFT_AREAS_MAX = 30
THEFT_MIN_SHARE = 0.05
OLD_THEFT = 3  # older thefts for the risk model (see _plan_old_theft)
THEFT_CLASSES = (0, 1, 2, 3)  # households and 一般工商业 (not irrigation: its season swamps a drop)
CHUNK_ACCOUNTS = 1_024  # the random streams are per block: part of the generator, not a knob


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """What the generator needs of one active account (``index`` into ``County.accounts``)."""

    index: int
    customer_class: str
    area_type: str
    capacity_kva: int
    opened_on: dt.date
    transformer: int
    is_prepaid: bool


@dataclass(slots=True)
class MeterRow:
    """电能表 asset, ready for ``Meter(...)``; ``account`` is the spec position it serves."""

    account: int
    asset_no: str
    barcode: str
    meter_type: str
    registers: tuple[str, ...]
    digits: int
    multiplier: int
    accuracy_class: str
    manufacturer: str
    manufactured_on: dt.date
    last_verified_on: dt.date
    remote_cutoff: bool
    status: str = "installed"


@dataclass(slots=True)
class InstallationRow:
    """装表记录 of meter ``meter`` (index into ``MeteringPlan.meters``)."""

    meter: int
    account: int  # spec position
    installed_at: dt.datetime
    removed_at: dt.datetime | None = None
    initial_readings: dict[str, str] = field(default_factory=dict)
    final_readings: dict[str, str] | None = None
    reason: str = ""


@dataclass(slots=True)
class Chunk:
    """One block of accounts: positions ``start:stop`` of the specs, their true daily use
    (Wh, [accounts, days]) and, when they get readings, the readings frame."""

    start: int
    stop: int
    use_wh: np.ndarray
    readings: pl.DataFrame | None


@dataclass(slots=True)
class MeteringPlan:
    """Everything drawn up front: meters, installations, per-meter parameters, anomalies."""

    seed: int
    start: dt.date
    end: dt.date
    specs: list[AccountSpec]
    meters: list[MeterRow]
    installations: list[InstallationRow]
    readings_accounts: int  # specs[:readings_accounts] get readings
    anomalies: dict[str, list[tuple[int, dt.date, dt.date]]]  # rule → (meter, from, to)
    # per spec position: main meter index, exchange (day index, new meter index) or (-1, -1)
    main_meter: np.ndarray
    exchange_day: np.ndarray
    exchange_meter: np.ndarray
    # per meter: register start values (thousandths), rollover flag
    start_milli: dict[str, np.ndarray] = field(default_factory=dict)
    # per spec position: level (kWh/day), seasonal amplitudes, noise sigma, TOU fractions
    level: np.ndarray = field(default_factory=lambda: np.zeros(0))
    amp_summer: np.ndarray = field(default_factory=lambda: np.zeros(0))
    amp_winter: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tou_base: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    reactive_ratio: np.ndarray = field(default_factory=lambda: np.zeros(0))
    first_day: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # injected theft (窃电) for the line-loss demo: (spec position, first day, recorded share)
    theft: list[tuple[int, dt.date, float]] = field(default_factory=list)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def day_list(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]

    def chunks(self, *, size: int = CHUNK_ACCOUNTS, readings: bool = True) -> Iterator[Chunk]:
        """Accounts in blocks of ``size``: their true daily use and (for the first
        ``readings_accounts``) their readings. The values are deterministic for a seed and
        block size (each block draws from its own stream); keep the default."""
        factors = _class_day_factors(self.start, self.days)
        for start in range(0, len(self.specs), size):
            stop = min(start + size, len(self.specs))
            use = self._daily_use(start, stop, factors)
            frame = None
            if readings and start < self.readings_accounts:
                frame = self._readings(
                    start, min(stop, self.readings_accounts), use[: self.readings_accounts - start]
                )
            yield Chunk(start, stop, use, frame)

    def recorded_use(self, positions: np.ndarray, use_wh: np.ndarray) -> np.ndarray:
        """What the meters of spec ``positions`` record of their true daily use ``use_wh``
        ([positions, days ending at the plan's end]): the thieves' use from their first theft
        day on is cut to their recorded share (the 台区总表 still sees the true use)."""
        recorded = use_wh.copy()
        offset = self.days - use_wh.shape[1]
        where = {int(p): i for i, p in enumerate(positions)}
        for pos, first, factor in self.theft:
            if pos in where:
                day = max((first - self.start).days - offset, 0)
                row = recorded[where[pos]]
                row[day:] = np.floor(row[day:] * factor).astype(np.int64)
        return recorded

    # --- daily use ---------------------------------------------------------------------

    def _daily_use(self, start: int, stop: int, factors: dict[str, np.ndarray]) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 0x3E7E, start])
        cls = np.array([_C[s.customer_class] for s in self.specs[start:stop]], dtype=np.int64)
        n = stop - start
        sigma = np.where(cls <= 2, 0.22, np.where(cls == 4, 0.08, 0.15))
        noise = np.exp(rng.normal(0.0, 1.0, size=(n, self.days)) * sigma[:, None] - sigma[:, None] ** 2 / 2)
        season = (
            1.0
            + self.amp_summer[start:stop, None] * factors["summer"][None, :]
            + self.amp_winter[start:stop, None] * factors["winter"][None, :]
        )
        kwh = self.level[start:stop, None] * season * factors["class"][cls] * noise
        wh = np.maximum(np.rint(kwh * 1000.0), 30).astype(np.int64)
        first = self.first_day[start:stop]
        wh[np.arange(self.days)[None, :] < first[:, None]] = 0  # not connected yet
        return wh

    # --- readings ----------------------------------------------------------------------

    def _readings(self, start: int, stop: int, use: np.ndarray) -> pl.DataFrame:
        """Register readings of spec positions ``start:stop`` (all their meters)."""
        frames: list[pl.DataFrame] = []
        day0 = (self.start - dt.date(1970, 1, 1)).days
        days = self.days
        positions = np.arange(start, stop)
        # Group the main meters by register layout and process each group as a matrix.
        by_layout: dict[tuple[str, ...], list[int]] = {}
        for pos in positions:
            by_layout.setdefault(self.meters[int(self.main_meter[pos])].registers, []).append(int(pos))
        for layout, group in by_layout.items():
            idx = np.array(group, dtype=np.int64)
            measured = self.recorded_use(idx, use[idx - start])
            meter_idx = self.main_meter[idx]
            first = self.first_day[idx].copy()
            last = np.full(len(idx), days - 1, dtype=np.int64)
            ex = self.exchange_day[idx]
            has_ex = ex >= 0
            last[has_ex] = ex[has_ex]
            frames.append(
                self._meter_block(layout, meter_idx, measured, first, last, day0, days, pos_idx=idx)
            )
            # New meters of the exchanged accounts: use from the exchange afternoon on.
            if has_ex.any():
                e_idx = idx[has_ex]
                e_day = ex[has_ex]
                new_use = use[e_idx - start].copy()
                cols = np.arange(days)[None, :]
                part = new_use[np.arange(len(e_idx)), e_day] * 14 // 24
                new_use[cols < e_day[:, None]] = 0
                new_use[np.arange(len(e_idx)), e_day] = part
                frames.append(
                    self._meter_block(
                        layout,
                        self.exchange_meter[e_idx],
                        new_use,
                        e_day + 1,
                        np.full(len(e_idx), days - 1, dtype=np.int64),
                        day0,
                        days,
                        pos_idx=None,
                    )
                )
        frame = pl.concat([f for f in frames if f.height]) if frames else _empty_readings()
        return frame.sort("meter", "register", "day")

    def _meter_block(
        self,
        layout: tuple[str, ...],
        meter_idx: np.ndarray,
        measured: np.ndarray,
        first: np.ndarray,
        last: np.ndarray,
        day0: int,
        days: int,
        *,
        pos_idx: np.ndarray | None,
    ) -> pl.DataFrame:
        """Readings of a set of meters of one layout: ``measured`` is the daily Wh each
        meter sees (anomalies of the meter applied here), rows for days first..last."""
        n = len(meter_idx)
        if n == 0:
            return _empty_readings()
        measured = measured.copy()
        spike, stopped, gap, decrease, rollover = (self.anomalies[k] for k in _RULES)
        pos_of = {int(m): i for i, m in enumerate(meter_idx)}
        for m, d_from, _ in spike:
            if m in pos_of:
                i = (d_from - self.start).days
                measured[pos_of[m], i - 1] *= 12  # the increment arriving on d_from
        for m, d_from, d_to in stopped:
            if m in pos_of:
                measured[pos_of[m], (d_from - self.start).days - 1 : (d_to - self.start).days] = 0
        mult = np.array([self.meters[int(m)].multiplier for m in meter_idx], dtype=np.int64)
        # Split the measured Wh over the TOU registers (exact: cumulative floors).
        tou = [r for r in layout if r not in ("total", "reactive")]
        per_register: dict[str, np.ndarray] = {}
        if tou:
            frac = self._tou_fractions(meter_idx, layout, days)
            cum = np.cumsum(frac, axis=2)
            cum[:, :, -1] = 1.0
            bounds = np.floor(measured[:, :, None] * cum).astype(np.int64)
            parts = np.diff(bounds, axis=2, prepend=0)
            for k, reg in enumerate(tou):
                per_register[reg] = parts[:, :, k]
        else:
            per_register["total"] = measured
        if "reactive" in layout:
            ratio = np.array([self.reactive_ratio[self.meters[int(m)].account] for m in meter_idx])
            per_register["reactive"] = np.rint(measured * ratio[:, None]).astype(np.int64)
        values: dict[str, np.ndarray] = {}
        for reg, wh in per_register.items():
            before = np.cumsum(wh, axis=1) - wh  # use before the 00:00 freeze of each day
            values[reg] = self.start_milli[reg][meter_idx][:, None] + before // mult[:, None]
        if tou:
            values["total"] = sum(values[r] for r in tou)  # type: ignore[assignment]
        # Readings after the anomalies that touch the values themselves.
        digits_mod = np.array([10 ** self.meters[int(m)].digits * 1000 for m in meter_idx], dtype=np.int64)
        for reg in values:
            values[reg] = values[reg] % digits_mod[:, None]
        for m, d_from, _ in decrease:
            if m in pos_of:
                i = (d_from - self.start).days
                row = values["total"][pos_of[m]]
                row[i] = max(row[i - 1] - 7_000 - (m % 50) * 1_000, 0)
        keep = np.zeros((n, days), dtype=bool)
        cols = np.arange(days)[None, :]
        keep[(cols >= first[:, None]) & (cols <= last[:, None])] = True
        for m, d_from, d_to in gap:
            if m in pos_of:
                keep[pos_of[m], (d_from - self.start).days : (d_to - self.start).days + 1] = False
        rows_m, rows_d = np.nonzero(keep)
        out = []
        for reg in layout:
            out.append(
                pl.DataFrame(
                    {
                        "meter": meter_idx[rows_m].astype(np.int64),
                        "day": (rows_d + day0).astype(np.int32),
                        "value": values[reg][rows_m, rows_d].astype(np.int64),
                    }
                ).select(
                    "meter",
                    pl.lit(reg, dtype=pl.String).alias("register"),
                    pl.col("day").cast(pl.Date),
                    "value",
                )
            )
        _ = rollover  # rollover meters differ only by their start values (see plan_metering)
        return pl.concat(out)

    def _tou_fractions(self, meter_idx: np.ndarray, layout: tuple[str, ...], days: int) -> np.ndarray:
        """[meters, days, k] shares of the day's energy per TOU register (rows sum to 1)."""
        accounts = np.array([self.meters[int(m)].account for m in meter_idx], dtype=np.int64)
        rng = np.random.default_rng([self.seed, 0x70, int(meter_idx[0]), len(meter_idx)])
        if layout == RES_TOU:
            valley = self.tou_base[accounts, 3][:, None] * np.exp(rng.normal(0, 0.08, (len(accounts), days)))
            valley = np.clip(valley, 0.1, 0.8)
            return np.stack([1.0 - valley, valley], axis=2)
        base = self.tou_base[accounts][:, None, :] * np.exp(rng.normal(0, 0.06, (len(accounts), days, 4)))
        months = np.array([(self.start + dt.timedelta(days=i)).month for i in range(days)])
        sharp_on = np.isin(months, (1, 7, 8, 12))
        base[:, ~sharp_on, 0] = 0.0
        return base / base.sum(axis=2, keepdims=True)


_RULES = ("spike", "zero_run", "missing", "decreasing", "rollover")


def _empty_readings() -> pl.DataFrame:
    return pl.DataFrame(schema={"meter": pl.Int64, "register": pl.String, "day": pl.Date, "value": pl.Int64})


# --- seasonal shapes ---------------------------------------------------------------------


def _bump(doy: np.ndarray, centre: int, width: float) -> np.ndarray:
    distance = np.minimum(np.abs(doy - centre), 365 - np.abs(doy - centre))
    return np.exp(-0.5 * (distance / width) ** 2)


def _festival_offset(days: list[dt.date]) -> np.ndarray:
    """Days from the nearest 春节 (large when none is known)."""
    out = np.full(len(days), 999, dtype=np.int64)
    for i, d in enumerate(days):
        for festival in SPRING_FESTIVAL.values():
            off = (d - festival).days
            if abs(off) < abs(out[i]):
                out[i] = off
    return out


def _class_day_factors(start: dt.date, n_days: int) -> dict[str, np.ndarray]:
    """Per-day factors: ``summer`` and ``winter`` bumps (0..1) and ``class`` [classes, days]
    (weekly pattern × holidays × irrigation season)."""
    days = [start + dt.timedelta(days=i) for i in range(n_days)]
    doy = np.array([d.timetuple().tm_yday for d in days])
    weekday = np.array([d.weekday() for d in days])
    fest = _festival_offset(days)
    weekend = weekday >= 5
    sunday = weekday == 6
    cls = np.ones((len(CLASSES), n_days))
    # households: a little more at weekends; the family home for the festival
    home = np.where((fest >= -7) & (fest <= 8), 1.15, 1.0)
    for c in RESIDENTIAL_CODES:
        cls[c] = np.where(weekend, 1.06, 1.0) * home
    cls[_C[RURAL_RES]] *= np.where((fest >= -10) & (fest <= 12), 1.1, 1.0)
    # shops and firms: quieter weekends, closed around the festival
    gic_fest = np.interp(fest, [-6, -3, -1, 6, 10, 14], [1.0, 0.7, 0.35, 0.35, 0.8, 1.0])
    cls[_C[GENERAL_IC]] = np.where(sunday, 0.82, np.where(weekend, 0.9, 1.0)) * gic_fest
    # factories: the long stop
    li_fest = np.interp(fest, [-14, -8, -3, 10, 16, 24], [1.0, 0.8, 0.15, 0.15, 0.6, 1.0])
    cls[_C[LARGE_IND]] = np.where(sunday, 0.88, 1.0) * li_fest
    # irrigation: 春灌 Mar–May, June, 冬灌 November
    irrigation = 0.2 + 1.0 * _bump(doy, 105, 22) + 0.7 * _bump(doy, 170, 12) + 0.6 * _bump(doy, 318, 10)
    cls[_C[AGRI]] = irrigation
    return {
        "summer": _bump(doy, 206, 22),
        "winter": _bump(doy, 10, 28),
        "class": cls,
    }


# --- specs and the plan -------------------------------------------------------------------


def account_specs(county: County) -> list[AccountSpec]:
    """The active accounts of ``county`` with what the metering generator needs."""
    capacity = {c.account: int(c.capacity_kva) for c in county.contracts}
    specs = []
    for i, a in enumerate(county.accounts):
        if a.status != "active":
            continue
        transformer = county.service_points[a.service_point].transformer
        specs.append(
            AccountSpec(
                index=i,
                customer_class=a.customer_class,
                area_type=county.transformers[transformer].area_type,
                capacity_kva=capacity.get(i, 10),
                opened_on=a.opened_on,
                transformer=transformer,
                is_prepaid=a.is_prepaid,
            )
        )
    return specs


def window(end: dt.date, months: int) -> tuple[dt.date, dt.date]:
    """(first day, last day) of ``months`` months of daily readings ending on ``end``."""
    year, month = end.year, end.month - months
    while month < 1:
        month += 12
        year -= 1
    day = min(end.day, 28)
    return dt.date(year, month, day) + dt.timedelta(days=1), end


def _ct_primary(current: float, options: Sequence[int]) -> int:
    for primary in options:
        if primary >= current * 1.2:
            return primary
    return options[-1]


def _luhn(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


def _milli_text(value: int) -> str:
    return f"{value // 1000}.{value % 1000:03d}"


def _pick(rng: np.random.Generator, pool: list[int], count: int, used: set[int]) -> list[int]:
    free = [p for p in pool if p not in used]
    if not free or count <= 0:
        return []
    chosen = [free[i] for i in sorted(rng.choice(len(free), size=min(count, len(free)), replace=False))]
    used.update(chosen)
    return chosen


def plan_metering(
    county: County,
    *,
    seed: int,
    end: dt.date,
    months: int = 13,
    readings_accounts: int | None = READINGS_CAP,
) -> MeteringPlan:
    """Draw the meters, installations, levels and anomalies of ``county``'s active accounts
    for the daily readings of ``months`` months ending on ``end`` (yesterday).

    ``readings_accounts``: only the first so many active accounts get readings (``None``:
    all); every active account gets a meter and counts in the transformer curves.
    """
    rng = np.random.default_rng([seed, 0x3E7E])
    specs = account_specs(county)
    start, end = window(end, max(months, 1)) if months > 0 else (end, end)
    n = len(specs)
    days = (end - start).days + 1
    n_read = n if readings_accounts is None else min(n, readings_accounts)
    if months <= 0:
        n_read = 0
    cls = np.array([_C.get(s.customer_class, _C[GENERAL_IC]) for s in specs], dtype=np.int64)
    cap = np.array([s.capacity_kva for s in specs], dtype=np.float64)
    rural = np.array([s.area_type != "urban" for s in specs])

    # Levels (kWh/day) and seasonal amplitudes per account.
    u = rng.random(n)
    level = np.select(
        [cls == 0, cls == 1, cls == 2, cls == 3, cls == 4, cls == 5],
        [
            5 + 5 * u,
            3 + 3 * u,
            20 + 60 * u,
            np.clip(cap * (1.5 + 2.5 * u), 20, 600),
            cap * 24 * (0.25 + 0.30 * u),
            cap * (2 + 4 * u),
        ],
    )
    vacant = (cls <= 1) & (rng.random(n) < 0.05)
    level = np.where(vacant, 0.3 + 1.2 * rng.random(n), level)
    a1, a2 = rng.random(n), rng.random(n)
    amp_summer = np.select(
        [cls == 0, cls == 1, cls == 2, cls == 3],
        [0.3 + 0.7 * a1, 0.1 + 0.5 * a1, 0.3 + 0.2 * a1, 0.1 + 0.4 * a1],
        0.05 * a1,
    )
    amp_winter = np.select(
        [cls == 0, cls == 1, cls == 2, cls == 3],
        [0.1 + 0.4 * a2, 0.2 + 0.7 * a2, 0.2 + 0.2 * a2, 0.2 * a2],
        0.05 * a2,
    )
    amp_winter = np.where(rural & (cls <= 1), amp_winter * 1.2, amp_winter)
    tou_base = np.empty((n, 4))
    jitter = 0.8 + 0.4 * rng.random((n, 4))
    tou_base[:] = np.where((cls == 4)[:, None], [0.08, 0.30, 0.30, 0.32], [0.08, 0.36, 0.36, 0.20]) * jitter
    tou_base[cls <= 2, 3] = 0.3 + 0.2 * rng.random(int((cls <= 2).sum()))  # household valley share
    reactive_ratio = 0.25 + 0.25 * rng.random(n)

    # Meters and installations.
    base_serial = (seed % 90 + 10) * 10**8
    meters: list[MeterRow] = []
    installations: list[InstallationRow] = []
    first_day = np.zeros(n, dtype=np.int64)
    main_meter = np.zeros(n, dtype=np.int64)
    install_days = np.zeros(n, dtype=np.int64)  # ordinal of the main meter's installation
    tou_res = rng.random(n) < RESIDENTIAL_TOU_SHARE
    year_pick = rng.choice(
        np.arange(2014, 2025), size=n, p=_normalise([0.5, 0.5, 1, 2, 4, 10, 12, 14, 14, 12, 10])
    )
    day_pick = rng.integers(0, 365, size=n)
    manu_pick = rng.integers(0, len(MANUFACTURERS), size=n)
    verify_roll = rng.random(n)

    def new_meter(pos: int, installed: dt.date, serial: int) -> MeterRow:
        c = int(cls[pos])
        spec = specs[pos]
        manufactured = installed - dt.timedelta(days=int(30 + (serial * 7919) % 300))
        layout: tuple[str, ...]
        if c <= 2:
            layout, mtype, digits, mult, acc = (RES_TOU if tou_res[pos] else TOTAL_ONLY), "single", 6, 1, "2"
        elif c == 4:
            amps = spec.capacity_kva / (math.sqrt(3) * 10.0)
            mult = _ct_primary(amps, HV_CT_PRIMARIES) // 5 * PT_RATIO
            layout, mtype, digits, acc = LI_TOU, "three", 8, "0.5S"
        else:
            amps = spec.capacity_kva / (math.sqrt(3) * 0.38)
            mult = _ct_primary(amps, LV_CT_PRIMARIES) // 5 if spec.capacity_kva >= 50 else 1
            layout = GIC_TOU if c == 3 else TOTAL_ONLY
            if spec.capacity_kva * 1000 >= PF_MIN_VA:  # 力调: 100 kVA and up record reactive too
                layout = (*layout, "reactive")
            mtype, digits, acc = "three", 8, "1"
        # 首检 at the factory; 0.5S meters are re-verified every 12 months (10 % overdue).
        verified = manufactured + dt.timedelta(days=int(5 + serial % 50))
        if acc == "0.5S":
            back = 30 + int(verify_roll[pos] * 300) if verify_roll[pos] < 0.9 else 380 + int(serial % 200)
            verified = max(verified, end - dt.timedelta(days=back))
        asset = f"3110{base_serial + serial:010d}"
        barcode_body = f"1330{manufactured.year % 100:02d}{base_serial + serial:010d}"
        return MeterRow(
            account=pos,
            asset_no=asset,
            barcode=barcode_body + _luhn(barcode_body),
            meter_type=mtype,
            registers=layout,
            digits=digits,
            multiplier=mult,
            accuracy_class=acc,
            manufacturer=MANUFACTURERS[int(manu_pick[pos])],
            manufactured_on=manufactured,
            last_verified_on=verified,
            remote_cutoff=c <= 3,
        )

    for pos, spec in enumerate(specs):
        installed = dt.date(int(year_pick[pos]), 1, 1) + dt.timedelta(days=int(day_pick[pos]))
        installed = max(installed, spec.opened_on)
        if installed >= end:
            installed = spec.opened_on
        meters.append(new_meter(pos, installed, len(meters)))
        main_meter[pos] = len(meters) - 1
        install_days[pos] = installed.toordinal()
        # first reading: the freeze after the installation day when that is in the window
        first_day[pos] = max(0, (installed - start).days + 1)
        installations.append(
            InstallationRow(
                meter=len(meters) - 1,
                account=pos,
                installed_at=_at(installed),
                initial_readings=dict.fromkeys(meters[-1].registers, "0.000"),
                reason="新装" if installed == spec.opened_on else "轮换",
            )
        )

    # Start values of the registers at the window start (thousandths of a unit).
    reg_names = ("total", "sharp", "peak", "flat", "valley", "reactive")
    start_milli = {r: np.zeros(len(meters), dtype=np.int64) for r in reg_names}
    age = np.maximum(start.toordinal() - install_days, 0)
    mult_arr = np.array([m.multiplier for m in meters[:n]], dtype=np.float64)
    cap_total = np.array([10**m.digits * 1000 for m in meters[:n]], dtype=np.float64)
    est_total = level * age * (0.8 + 0.3 * rng.random(n)) * 1000 / mult_arr
    room = cap_total - level * days * 3 * 1000 / mult_arr  # stay clear of an unplanned rollover
    total0 = np.clip(np.minimum(est_total, room), 0, None).astype(np.int64)
    for pos in range(n):
        layout = meters[pos].registers
        tou = [r for r in layout if r not in ("total", "reactive")]
        if tou:
            shares = (
                np.array([1 - tou_base[pos, 3], tou_base[pos, 3]])
                if layout == RES_TOU
                else tou_base[pos] / tou_base[pos].sum()
            )
            bounds = np.floor(total0[pos] * np.cumsum(shares)).astype(np.int64)
            bounds[-1] = total0[pos]
            parts = np.diff(bounds, prepend=0)
            for reg, part in zip(tou, parts, strict=True):
                start_milli[reg][pos] = part
            start_milli["total"][pos] = total0[pos]
        else:
            start_milli["total"][pos] = total0[pos]
        if "reactive" in layout:
            start_milli["reactive"][pos] = int(total0[pos] * reactive_ratio[pos])

    # Anomalies, exchanges and rollovers on distinct accounts with readings.
    anomalies: dict[str, list[tuple[int, dt.date, dt.date]]] = {k: [] for k in _RULES}
    exchange_day = np.full(n, -1, dtype=np.int64)
    exchange_meter = np.full(n, -1, dtype=np.int64)
    used: set[int] = set()
    eligible = [p for p in range(n_read) if first_day[p] == 0]
    total_only = [p for p in eligible if meters[p].registers == TOTAL_ONLY and meters[p].digits == 6]
    big = len(eligible) >= 50

    def day_at(i: int) -> dt.date:
        return start + dt.timedelta(days=int(i))

    if days >= 30 and eligible:
        for p in _pick(rng, total_only, 3 if big else 2, used):  # rollover from near 999990
            step = max(int(level[p] * 1000), 1000)
            start_milli["total"][p] = 10**9 - step * int(rng.integers(2, 6)) - 10_000
            anomalies["rollover"].append((p, start, end))
        for p in _pick(rng, eligible, max(2, len(eligible) // 400), used):  # 换表
            x = int(rng.integers(days // 5, days * 4 // 5))
            exchange_day[p] = x
        for p in _pick(rng, eligible, max(2, len(eligible) // 300), used):
            i = int(rng.integers(15, days - 1))
            anomalies["spike"].append((p, day_at(i), day_at(i)))
        for p in _pick(rng, eligible, max(2, len(eligible) // 300), used):
            # 停走: the meter stopped 10–30 days ago and still stands (awaiting a site visit)
            length = int(rng.integers(10, min(30, days - 12) + 1))
            anomalies["zero_run"].append((p, day_at(days - length), end))
        for p in _pick(rng, eligible, max(2, len(eligible) // 200), used):
            length = int(rng.integers(1, 6))
            i = int(rng.integers(5, days - length - 1))
            anomalies["missing"].append((p, day_at(i), day_at(i + length - 1)))
        for p in _pick(rng, total_only, 3 if big else 2, used):
            i = int(rng.integers(10, days - 2))
            anomalies["decreasing"].append((p, day_at(i), day_at(i)))

    theft = _plan_theft(
        county,
        specs,
        level,
        first_day,
        n_read,
        used,
        anomalies["zero_run"],
        seed=seed,
        start=start,
        days=days,
    )

    # The new meters of the exchanges; the old installation closes with final readings
    # completed in the writer from the readings (final = freeze of the day + the morning).
    for p in (int(i) for i in np.nonzero(exchange_day >= 0)[0]):
        x_day = day_at(int(exchange_day[p]))
        old = meters[p]
        old.status = "removed"
        meters.append(new_meter(p, x_day, len(meters)))
        exchange_meter[p] = len(meters) - 1
        installations[p].removed_at = _at(x_day)
        installations[p].reason = "轮换"
        installations.append(
            InstallationRow(
                meter=len(meters) - 1,
                account=p,
                installed_at=_at(x_day),
                initial_readings=dict.fromkeys(meters[-1].registers, "0.000"),
                reason="换表: 故障换表" if p % 2 else "换表: 周期轮换",
            )
        )
    for r in reg_names:
        grown = np.zeros(len(meters), dtype=np.int64)
        grown[: len(start_milli[r])] = start_milli[r][: len(meters)]
        start_milli[r] = grown

    return MeteringPlan(
        seed=seed,
        start=start,
        end=end,
        specs=specs,
        meters=meters,
        installations=installations,
        readings_accounts=n_read,
        anomalies={k: [(int(main_meter[p]), a, b) for p, a, b in v] for k, v in anomalies.items()},
        main_meter=main_meter,
        exchange_day=exchange_day,
        exchange_meter=exchange_meter,
        start_milli=start_milli,
        level=level,
        amp_summer=amp_summer,
        amp_winter=amp_winter,
        tou_base=tou_base,
        reactive_ratio=reactive_ratio,
        first_day=first_day,
        theft=theft,
    )


def _plan_theft(
    county: County,
    specs: list[AccountSpec],
    level: np.ndarray,
    first_day: np.ndarray,
    n_read: int,
    used: set[int],
    stopped: list[tuple[int, dt.date, dt.date]],
    *,
    seed: int,
    start: dt.date,
    days: int,
) -> list[tuple[int, dt.date, float]]:
    """窃电 for the line-loss demo: a few public 台区 (``THEFT_AREAS_MIN``, one per
    ``THEFT_AREAS_PER`` eligible areas in big counties, at most ``THEFT_AREAS_MAX``) get 1–2
    thieves whose meters record 15–40 % of their use from a day 12–20 days before the end.

    An area is eligible when every one of its accounts gets readings (it is inside
    ``readings_accounts``: otherwise it has no complete day and no rate) and none of its
    meters is stopped (停走 makes a loss jump of its own). A thief is an account without
    another anomaly, a household or 一般工商业 account metered for the whole window, whose
    stolen energy moves the area's loss
    rate by at least ``THEFT_MIN_SHARE`` (about 5 points, over the 3-point jump threshold).
    Drawn from its own random stream: the other draws of the plan are unchanged."""
    if days < 30 or n_read == 0:
        return []
    rng = np.random.default_rng([seed, 0x7EF7])
    members: dict[int, list[int]] = {}
    for pos, spec in enumerate(specs):
        members.setdefault(spec.transformer, []).append(pos)
    stopped_areas = {specs[p].transformer for p, _, _ in stopped}
    areas = [
        t
        for t, positions in sorted(members.items())
        if not county.transformers[t].is_dedicated
        and t not in stopped_areas
        and len(positions) >= 8
        and max(positions) < n_read
    ]
    wanted = min(THEFT_AREAS_MAX, max(THEFT_AREAS_MIN, len(areas) // THEFT_AREAS_PER))
    chosen: list[tuple[int, dt.date, float]] = []
    done = 0
    for t in (areas[int(i)] for i in rng.permutation(len(areas))):
        if done >= wanted:
            break
        positions = np.array(members[t], dtype=np.int64)
        count = int(rng.integers(1, 3))
        factors = np.round(rng.uniform(0.15, 0.40, size=count), 2)
        first = start + dt.timedelta(days=days - int(rng.integers(12, 21)))
        area_level = float(level[positions].sum())
        candidates = [
            int(p)
            for p in positions
            if int(p) not in used
            and first_day[p] == 0
            and _C[specs[int(p)].customer_class] in THEFT_CLASSES
            and level[p] * (1 - factors.max()) >= THEFT_MIN_SHARE / count * area_level
        ]
        if len(candidates) < count:
            continue
        drawn = rng.choice(len(candidates), size=count, replace=False)
        picks = sorted(int(candidates[int(i)]) for i in drawn)
        used.update(picks)
        chosen += [(p, first, float(f)) for p, f in zip(picks, factors, strict=True)]
        done += 1
    return chosen + _plan_old_theft(specs, members, areas, first_day, used, seed=seed, start=start, days=days)


def _plan_old_theft(
    specs: list[AccountSpec],
    members: dict[int, list[int]],
    areas: list[int],
    first_day: np.ndarray,
    used: set[int],
    *,
    seed: int,
    start: dt.date,
    days: int,
) -> list[tuple[int, dt.date, float]]:
    """Older 窃电 for the theft-risk demo: ``OLD_THEFT`` households or 一般工商业 accounts in
    other eligible areas record 10–40 % of their use from a day 60–120 days before the end.
    The risk model needs weeks of readings after a break to see it (its break features want
    28 readings on each side), which the recent line-loss thefts do not have yet; in the
    30-day line-loss window these areas show a steady loss, not a jump. Own random stream."""
    if days < 150:
        return []
    rng = np.random.default_rng([seed, 0x01D7])
    taken = {specs[p].transformer for p in used}
    pool = [
        int(p)
        for t in areas
        if t not in taken
        for p in members[t]
        if int(p) not in used and first_day[p] == 0 and _C[specs[int(p)].customer_class] in THEFT_CLASSES
    ]
    if not pool:
        return []
    picks = sorted(
        int(pool[int(i)]) for i in rng.choice(len(pool), size=min(OLD_THEFT, len(pool)), replace=False)
    )
    used.update(picks)
    out = []
    for p in picks:
        first = start + dt.timedelta(days=days - int(rng.integers(60, 121)))
        out.append((p, first, float(np.round(rng.uniform(0.10, 0.40), 2))))
    return out


def final_readings(plan: MeteringPlan, readings: pl.DataFrame, use: np.ndarray, chunk_start: int) -> None:
    """Fill the final readings of the exchanged (old) meters of a chunk: the freeze of the
    exchange day plus the morning's use (10 of 24 hours), per register."""
    for pos in (int(i) for i in np.nonzero(plan.exchange_day >= 0)[0]):
        if not chunk_start <= pos < chunk_start + use.shape[0]:
            continue
        old = int(plan.main_meter[pos])
        x = int(plan.exchange_day[pos])
        x_day = plan.start + dt.timedelta(days=x)
        rows = readings.filter((pl.col("meter") == old) & (pl.col("day") == x_day))
        meter = plan.meters[old]
        morning_wh = int(use[pos - chunk_start, x]) * 10 // 24
        layout = meter.registers
        tou = [r for r in layout if r not in ("total", "reactive")]
        values = dict(zip(rows["register"].to_list(), rows["value"].to_list(), strict=True))
        final: dict[str, int] = {}
        for reg in layout:
            if reg in ("total",) and tou:
                continue
            share = 1.0
            if reg in tou:
                share = 1.0 / len(tou)
            elif reg == "reactive":
                share = float(plan.reactive_ratio[pos])
            final[reg] = int(values.get(reg, 0)) + int(morning_wh * share) // meter.multiplier
        if tou:
            final["total"] = sum(final[r] for r in tou)
        plan.installations[pos].final_readings = {r: _milli_text(final[r]) for r in layout}


def _normalise(weights: Sequence[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return w / w.sum()


# --- 96-point curves ---------------------------------------------------------------------


def _hours() -> np.ndarray:
    return (np.arange(SLOTS) + 0.5) / 4.0


def _g(h: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((h - centre) / width) ** 2)


def class_day_shapes(month: int) -> np.ndarray:
    """[classes, 96] smooth synthetic day shapes (each sums to 1) for a month."""
    h = _hours()
    summer = month in (6, 7, 8, 9)
    winter = month in (11, 12, 1, 2, 3)
    res = 0.35 + 0.55 * _g(h, 7.5, 1.0) + 0.45 * _g(h, 12.0, 1.2) + 1.25 * _g(h, 20.0, 1.6)
    if summer:
        res += 0.45 * _g(h, 14.5, 2.0) + 0.5 * _g(h, 22.5, 1.8)
    if winter:
        res += 0.35 * (_g(h, 2.0, 3.0) + _g(h, 23.5, 1.5))
    gic = (
        0.22
        + 1.0 / (1 + np.exp(-(h - 8.5) * 3)) * (1.0 / (1 + np.exp((h - 21.0) * 3)))
        - 0.15 * _g(h, 12.5, 0.7)
    )
    li = 1.0 - 0.12 * (_g(h, 8.0, 0.4) + _g(h, 16.0, 0.4) + _g(h, 0.1, 0.4)) + 0.08 * ((h < 7) | (h >= 23))
    agri = 0.25 + 1.0 * (1.0 / (1 + np.exp(-(h - 6) * 2))) * (1.0 / (1 + np.exp((h - 19) * 2)))
    shapes = np.stack([res, res * 0.9 + 0.1, res * 0.7 + 0.3, gic, li, agri])
    return shapes / shapes.sum(axis=1, keepdims=True)


def load_london_shapes(folder: Path | str) -> tuple[np.ndarray, np.ndarray] | None:
    """Real household day shapes from the Low Carbon London half-hourly file, when present:
    (shapes [n, 96] each summing to 1, month of each). ``None`` when the folder or file is
    missing or unreadable (the demo then uses the synthetic shapes)."""
    path = Path(folder) / "halfhourly_2013_100hh.parquet"
    if not path.is_file():
        return None
    try:
        frame = (
            pl.scan_parquet(path)
            .select("customer_id", "timestamp", "kwh")
            .with_columns(pl.col("timestamp").dt.date().alias("date"))
            .group_by("customer_id", "date")
            .agg(pl.col("kwh").sort_by("timestamp"), pl.len().alias("n"))
            .filter(pl.col("n") == 48)
            .sort("customer_id", "date")
            .collect()
        )
    except (OSError, pl.exceptions.PolarsError):
        return None
    if frame.height == 0:
        return None
    half = np.array(frame["kwh"].to_list(), dtype=np.float64)
    sums = half.sum(axis=1)
    ok = sums > 0.5
    half = half[ok] / sums[ok, None]
    months = np.array([d.month for d in frame["date"].to_list()])[ok]
    return np.repeat(half / 2.0, 2, axis=1), months


def _split_day(total_wh: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """[..., 96] integer Wh summing exactly to ``total_wh`` (cumulative floors)."""
    cum = np.cumsum(shape, axis=-1)
    cum = cum / cum[..., -1:]
    bounds = np.floor(total_wh[..., None] * cum).astype(np.int64)
    bounds[..., -1] = total_wh
    return np.diff(bounds, axis=-1, prepend=0)


def curve_days(plan: MeteringPlan, days: int = 30) -> list[dt.date]:
    """The last ``days`` days of the plan's window (the days that get curves)."""
    return plan.day_list()[-days:]


def sample_accounts(plan: MeteringPlan, count: int) -> np.ndarray:
    """Spec positions of the accounts that get their own curves (deterministic)."""
    rng = np.random.default_rng([plan.seed, 0xC0])
    count = min(count, len(plan.specs))
    return np.sort(rng.choice(len(plan.specs), size=count, replace=False)) if count else np.zeros(0, np.int64)


def account_curves(
    plan: MeteringPlan,
    positions: np.ndarray,
    use_wh: np.ndarray,
    *,
    days: int = 30,
    london: tuple[np.ndarray, np.ndarray] | None = None,
) -> pl.DataFrame:
    """96-point curves of the accounts at spec ``positions`` over the last ``days`` days;
    ``use_wh`` is their true daily use [len(positions), plan days]. ``key`` is the spec
    position (the writer maps it to the account id). Household days take a real London
    day shape of the same month when ``london`` is given, else the class shape with noise."""
    if len(positions) == 0:
        return pl.DataFrame(schema={"key": pl.Int64, "day": pl.Date, "slot": pl.Int8, "wh": pl.Int64})
    rng = np.random.default_rng([plan.seed, 0xC1, int(positions[0]), len(positions)])
    dlist = curve_days(plan, days)
    offset = plan.days - len(dlist)
    totals = plan.recorded_use(positions, use_wh[:, offset:])
    cls = np.array([_C[plan.specs[int(p)].customer_class] for p in positions])
    shapes = np.empty((len(positions), len(dlist), SLOTS))
    month_shapes = {m: class_day_shapes(m) for m in {d.month for d in dlist}}
    for j, d in enumerate(dlist):
        base = month_shapes[d.month][cls]
        noise = np.exp(rng.normal(0, 0.25, size=base.shape))
        shapes[:, j, :] = base * noise
        if london is not None:
            pool = np.nonzero(london[1] == d.month)[0]
            if len(pool):
                res = np.nonzero(cls <= 2)[0]
                picks = rng.choice(pool, size=len(res))
                shapes[res, j, :] = london[0][picks] + 1e-6
    wh = _split_day(totals, shapes)
    return _long_frame(positions, dlist, wh)


def transformer_curves(
    plan: MeteringPlan,
    transformer_use: np.ndarray,
    *,
    days: int = 30,
) -> pl.DataFrame:
    """台区总表 curves: ``transformer_use`` [transformers, classes, curve days] is the
    true daily use of each transformer's accounts by class (Wh); the total meter sees it
    shaped by the class day shapes plus 3–8 % line loss. ``key`` = transformer index."""
    n_t = transformer_use.shape[0]
    rng = np.random.default_rng([plan.seed, 0x7A])
    loss = 1.03 + 0.05 * np.asarray(rng.random(size=(n_t,)))
    dlist = curve_days(plan, days)
    out = np.zeros((n_t, len(dlist), SLOTS), dtype=np.int64)
    for j, d in enumerate(dlist):
        noisy = class_day_shapes(d.month) * np.exp(rng.normal(0, 0.05, size=(len(CLASSES), SLOTS)))
        shapes = noisy / noisy.sum(axis=1, keepdims=True)
        power = np.einsum("tc,cs->ts", transformer_use[:, :, j].astype(np.float64), shapes) * loss[:, None]
        total = np.rint(power.sum(axis=1)).astype(np.int64)
        out[:, j, :] = _split_day(total, power + 1e-9)
    served = np.nonzero(transformer_use.sum(axis=(1, 2)) > 0)[0]
    return _long_frame(served, dlist, out[served])


def transformer_use(
    plan: MeteringPlan, use_wh: np.ndarray, chunk_start: int, n_transformers: int, days: int = 30
) -> np.ndarray:
    """[transformers, classes, days] true daily use of a chunk's accounts by transformer."""
    out = np.zeros((n_transformers, len(CLASSES), days), dtype=np.int64)
    specs = plan.specs[chunk_start : chunk_start + use_wh.shape[0]]
    t = np.array([s.transformer for s in specs], dtype=np.int64)
    c = np.array([_C[s.customer_class] for s in specs], dtype=np.int64)
    np.add.at(out, (t, c), use_wh[:, -days:])
    return out


def _long_frame(keys: np.ndarray, dlist: list[dt.date], wh: np.ndarray) -> pl.DataFrame:
    n, d = wh.shape[0], wh.shape[1]
    day0 = (dlist[0] - dt.date(1970, 1, 1)).days
    return pl.DataFrame(
        {
            "key": np.repeat(np.asarray(keys, dtype=np.int64), d * SLOTS),
            "day": np.tile(np.repeat(np.arange(d, dtype=np.int32) + day0, SLOTS), n),
            "slot": np.tile(np.arange(SLOTS, dtype=np.int8), n * d),
            "wh": wh.reshape(-1),
        }
    ).with_columns(pl.col("day").cast(pl.Date))


def meter_multiplier(row: MeterRow) -> Decimal:
    """The multiplier as stored (Decimal)."""
    return Decimal(row.multiplier)
